//! Unit tests of the nginx snippet renderer.
use super::*;

#[test]
fn context_strings_outside_the_safe_alphabet_are_refused() {
    let v = serde_json::json!({"a": {"b": "fine-1.2:3/x_y"}, "n": 3, "t": true});
    assert!(check_values(&v, "").is_ok());
    for bad in [
        "1M; return 200",
        "a{",
        "}",
        "\"",
        "'",
        "a\nb",
        "$host",
        "#",
        "",
    ] {
        let v = serde_json::json!({"m": {"size": bad}});
        let e = check_values(&v, "").unwrap_err();
        assert!(e.contains("`m.size`"), "{e}");
    }
}

#[test]
fn output_must_be_ascii_with_balanced_braces() {
    assert!(check_output("location = /x {\n  return 200 '{\"a\": {\"b\": 1}}';\n}\n# }\n").is_ok());
    assert!(check_output("location ~ ^/a{1,2}$ { }\n").is_ok());
    assert!(
        check_output("}\nserver {\n")
            .unwrap_err()
            .contains("did not open")
    );
    assert!(check_output("location / {\n").unwrap_err().contains("open"));
    assert!(
        check_output("return 200 'x;\n")
            .unwrap_err()
            .contains("quote")
    );
    assert!(check_output("a\r\n").is_err());
    assert!(check_output("caf\u{e9};\n").is_err());
}

#[test]
fn a_template_syntax_error_names_the_template() {
    let dir = std::env::temp_dir().join(format!("roomctl-nginx-render-{}", std::process::id()));
    let nginx = dir.join("nginx");
    std::fs::create_dir_all(&nginx).unwrap();
    for role in ROLES {
        std::fs::write(nginx.join(format!("{role}.conf.tera")), "# {{ app }}\n").unwrap();
    }
    std::fs::write(nginx.join("matrix.conf.tera"), "{% if %}\n").unwrap();
    let inputs = SnippetInputs {
        backend: AppName::parse("acme-backend").unwrap(),
        backend_port: NonZeroU16::new(8765).unwrap(),
        frontend: AppName::parse("acme-frontend").unwrap(),
        matrix: AppName::parse("acme-matrix").unwrap(),
        matrix_port: NonZeroU16::new(8008).unwrap(),
        matrix_host: Fqdn::parse("matrix.acme.example.com").unwrap(),
        max_upload: BodySize::parse("100M").unwrap(),
        sync_timeout: NginxDuration::parse("600s").unwrap(),
        websocket_path: LocationPath::parse("/ws").unwrap(),
        websocket_timeout: NginxDuration::parse("1h").unwrap(),
        tls: true,
    };
    let e = render_snippets(&dir, &inputs).unwrap_err();
    assert!(
        matches!(&e, NginxError::Template { template, .. } if template.ends_with("nginx/matrix.conf.tera")),
        "{e}"
    );
    std::fs::write(nginx.join("matrix.conf.tera"), "# {{ app }}\n").unwrap();
    std::fs::write(nginx.join("matrx.conf.tera"), "").unwrap();
    let e = render_snippets(&dir, &inputs).unwrap_err().to_string();
    assert!(e.contains("no app role `matrx`"), "{e}");
    std::fs::remove_file(nginx.join("matrx.conf.tera")).unwrap();
    let out = render_snippets(&dir, &inputs).unwrap();
    let names: Vec<&str> = out.iter().map(|s| s.app.as_str()).collect();
    assert_eq!(names, ["acme-backend", "acme-frontend", "acme-matrix"]);
    assert_eq!(out[2].content, "# acme-matrix\n");
    std::fs::remove_dir_all(&dir).unwrap();
}
