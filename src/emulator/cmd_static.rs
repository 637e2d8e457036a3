//! Reports whose content is static apart from the app name (`nginx:report`,
//! `network:report`), copied from the recordings.

use super::io::Ctx;
use super::report;

const NETWORK: &str = r#"{"attach-post-create":"","attach-post-deploy":"","bind-all-interfaces":"","computed-attach-post-create":"","computed-attach-post-deploy":"","computed-bind-all-interfaces":"false","computed-initial-network":"","computed-tld":"","global-attach-post-create":"","global-attach-post-deploy":"","global-bind-all-interfaces":"","global-initial-network":"","global-tld":"","initial-network":"","network-attach-post-create":"","network-attach-post-deploy":"","network-bind-all-interfaces":"","network-computed-attach-post-create":"","network-computed-attach-post-deploy":"","network-computed-bind-all-interfaces":"false","network-computed-initial-network":"","network-computed-tld":"","network-global-attach-post-create":"","network-global-attach-post-deploy":"","network-global-bind-all-interfaces":"","network-global-initial-network":"","network-global-tld":"","network-initial-network":"","network-static-web-listener":"","network-tld":"","network-web-listeners":"","static-web-listener":"","tld":"","web-listeners":""}"#;

const NGINX: &str = r#"{"access-log-format":"","access-log-path":"","bind-address-ipv4":"","bind-address-ipv6":"","client-body-timeout":"","client-header-timeout":"","client-max-body-size":"","computed-access-log-format":"","computed-access-log-path":"/var/log/nginx/APP-access.log","computed-bind-address-ipv4":"","computed-bind-address-ipv6":"::","computed-client-body-timeout":"60s","computed-client-header-timeout":"60s","computed-client-max-body-size":"1m","computed-disable-custom-config":"false","computed-error-log-path":"/var/log/nginx/APP-error.log","computed-hsts":"true","computed-hsts-include-subdomains":"true","computed-hsts-max-age":"15724800","computed-hsts-preload":"false","computed-keepalive-timeout":"75s","computed-lingering-timeout":"5s","computed-nginx-conf-sigil-path":"nginx.conf.sigil","computed-nginx-service-command":"/usr/local/bin/dokku-nginx-service","computed-proxy-buffer-size":"4k","computed-proxy-buffering":"on","computed-proxy-buffers":"8 4k","computed-proxy-busy-buffers-size":"8k","computed-proxy-connect-timeout":"60s","computed-proxy-keepalive":"","computed-proxy-read-timeout":"60s","computed-proxy-send-timeout":"60s","computed-send-timeout":"60s","computed-underscore-in-headers":"off","computed-x-forwarded-for-value":"$remote_addr","computed-x-forwarded-port-value":"$server_port","computed-x-forwarded-proto-value":"$scheme","computed-x-forwarded-ssl":"","disable-custom-config":"","error-log-path":"","global-access-log-format":"","global-access-log-path":"","global-bind-address-ipv4":"","global-bind-address-ipv6":"","global-client-body-timeout":"","global-client-header-timeout":"","global-client-max-body-size":"","global-disable-custom-config":"","global-error-log-path":"","global-hsts":"","global-hsts-include-subdomains":"","global-hsts-max-age":"","global-hsts-preload":"","global-keepalive-timeout":"","global-lingering-timeout":"","global-nginx-conf-sigil-path":"","global-nginx-service-command":"/usr/local/bin/dokku-nginx-service","global-proxy-buffer-size":"","global-proxy-buffering":"","global-proxy-buffers":"","global-proxy-busy-buffers-size":"","global-proxy-connect-timeout":"","global-proxy-keepalive":"","global-proxy-read-timeout":"","global-proxy-send-timeout":"","global-send-timeout":"","global-underscore-in-headers":"","global-x-forwarded-for-value":"","global-x-forwarded-port-value":"","global-x-forwarded-proto-value":"","global-x-forwarded-ssl":"","hsts":"","hsts-include-subdomains":"","hsts-max-age":"","hsts-preload":"","keepalive-timeout":"","last-visited-at":"","lingering-timeout":"","nginx-conf-sigil-path":"","nginx-service-command":"","proxy-buffer-size":"","proxy-buffering":"","proxy-buffers":"","proxy-busy-buffers-size":"","proxy-connect-timeout":"","proxy-keepalive":"","proxy-read-timeout":"","proxy-send-timeout":"","send-timeout":"","underscore-in-headers":"","x-forwarded-for-value":"","x-forwarded-port-value":"","x-forwarded-proto-value":"","x-forwarded-ssl":""}"#;

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
    let body = if sub == "nginx:report" {
        NGINX.replace("APP", app)
    } else {
        NETWORK.to_string()
    };
    ctx.out(&format!("{body}\n"));
    0
}
