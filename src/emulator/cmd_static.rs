//! `network:report`, whose content is static, copied from the recordings.

use super::io::Ctx;
use super::report;

const NETWORK: &str = r#"{"attach-post-create":"","attach-post-deploy":"","bind-all-interfaces":"","computed-attach-post-create":"","computed-attach-post-deploy":"","computed-bind-all-interfaces":"false","computed-initial-network":"","computed-tld":"","global-attach-post-create":"","global-attach-post-deploy":"","global-bind-all-interfaces":"","global-initial-network":"","global-tld":"","initial-network":"","network-attach-post-create":"","network-attach-post-deploy":"","network-bind-all-interfaces":"","network-computed-attach-post-create":"","network-computed-attach-post-deploy":"","network-computed-bind-all-interfaces":"false","network-computed-initial-network":"","network-computed-tld":"","network-global-attach-post-create":"","network-global-attach-post-deploy":"","network-global-bind-all-interfaces":"","network-global-initial-network":"","network-global-tld":"","network-initial-network":"","network-static-web-listener":"","network-tld":"","network-web-listeners":"","static-web-listener":"","tld":"","web-listeners":""}"#;

pub fn run(ctx: &mut Ctx, sub: &str, args: &[String]) -> i32 {
    let (fmt, rest) = report::take_format(args);
    let Some(app) = rest.first() else {
        return super::cmd_apps::no_app(ctx);
    };
    if let Err(c) = ctx.load(app) {
        return c;
    }
    if fmt.as_deref() != Some("json") {
        ctx.warn("dokku-emu: only --format json is emulated for this report");
        return 1;
    }
    let _ = sub;
    ctx.out(&format!("{NETWORK}\n"));
    0
}
