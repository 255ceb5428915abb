use super::*;

fn serve_args(argv: &[&str]) -> serve::ServeArgs {
    match try_parse(argv) {
        Ok(Cli {
            command: Command::Serve(args),
        }) => *args,
        Ok(other) => panic!("{argv:?} parsed as {other:?}"),
        Err(e) => panic!("{argv:?}: {e}"),
    }
}

/// The community Helm chart's container args follow the image's entrypoint, so argv[1] repeats
/// `/adapter`: a positional argument that is ignored, as upstream ignores it.
#[test]
fn the_community_charts_argv_serves() {
    let args = serve_args(&[
        "/adapter",
        "/adapter",
        "--secure-port=6443",
        "--tls-cert-file=/var/run/serving-cert/tls.crt",
        "--tls-private-key-file=/var/run/serving-cert/tls.key",
        "--cert-dir=/tmp/cert",
        "--logtostderr=true",
        "--prometheus-url=http://prometheus.default.svc:9090",
        "--metrics-relist-interval=1m",
        "--v=4",
        "--config=/etc/adapter/config.yaml",
    ]);
    assert_eq!(args.serving.secure_port, 6443);
    assert_eq!(args.log.verbosity, 4);
    assert_eq!(args.positional, ["/adapter"]);
    assert!(args.inert.warning().is_none());
    // Positional arguments anywhere are ignored too.
    let args = serve_args(&["/adapter", "serve", "--v=2", "stray", "--secure-port=1"]);
    assert_eq!(args.positional, ["stray"]);
    assert_eq!(args.serving.secure_port, 1);
}

#[test]
fn subcommands_help_and_version_are_not_served() {
    assert!(matches!(
        try_parse(["metrics-adapter", "check", "--config", "x.yaml"]).map(|c| c.command),
        Ok(Command::Check(_))
    ));
    for flag in ["--help", "-h", "--version", "-V", "help"] {
        let err = try_parse(["metrics-adapter", flag]).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                clap::error::ErrorKind::DisplayHelp
                    | clap::error::ErrorKind::DisplayVersion
                    | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ),
            "{flag}: {err}"
        );
    }
}

/// Every flag prometheus-adapter v0.12 registers, as its `--help` lists them, with a value of
/// the right kind: the binary accepts them all.
#[test]
fn every_upstream_flag_is_accepted() {
    let argv = [
        "/adapter",
        // prometheus-adapter
        "--config=/c.yaml",
        "--prometheus-url=http://p:9090",
        "--prometheus-auth-incluster=false",
        "--prometheus-ca-file=/ca",
        "--prometheus-token-file=/t",
        "--prometheus-header=X-Scope-OrgID=a",
        "--prometheus-verb=GET",
        "--prometheus-client-tls-cert-file=/c",
        "--prometheus-client-tls-key-file=/k",
        "--metrics-relist-interval=1m",
        "--metrics-max-age=2m",
        "--disable-http2",
        // custom-metrics-apiserver
        "--lister-kubeconfig=/kc",
        "--discovery-interval=10m",
        "--client-qps=5",
        "--client-burst=10",
        // secure serving
        "--secure-port=6443",
        "--bind-address=0.0.0.0",
        "--cert-dir=/tmp/cert",
        "--tls-cert-file=/crt",
        "--tls-private-key-file=/key",
        "--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "--tls-min-version=VersionTLS12",
        "--tls-sni-cert-key=/a.crt,/a.key:a.example",
        "--http2-max-streams-per-connection=100",
        "--permit-port-sharing",
        "--permit-address-sharing=false",
        // delegated authentication and authorization
        "--authentication-kubeconfig=/kc",
        "--authentication-skip-lookup=false",
        "--authentication-token-webhook-cache-ttl=10s",
        "--authentication-tolerate-lookup-failure=true",
        "--client-ca-file=/ca",
        "--requestheader-client-ca-file=/ca",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-uid-headers=X-Remote-Uid",
        "--authorization-kubeconfig=/kc",
        "--authorization-always-allow-paths=/healthz,/readyz,/livez",
        "--authorization-webhook-cache-authorized-ttl=10s",
        "--authorization-webhook-cache-unauthorized-ttl=10s",
        // features
        "--profiling=true",
        "--contention-profiling",
        "--debug-socket-path=/s",
        "--enable-priority-and-fairness=false",
        // audit
        "--audit-policy-file=/p",
        "--audit-log-path=-",
        "--audit-log-maxage=1",
        "--audit-log-maxbackup=1",
        "--audit-log-maxsize=1",
        "--audit-log-format=json",
        "--audit-log-mode=blocking",
        "--audit-log-compress",
        "--audit-log-version=audit.k8s.io/v1",
        "--audit-log-batch-buffer-size=10000",
        "--audit-log-batch-max-size=1",
        "--audit-log-batch-max-wait=0s",
        "--audit-log-batch-throttle-burst=0",
        "--audit-log-batch-throttle-enable=false",
        "--audit-log-batch-throttle-qps=0",
        "--audit-log-truncate-enabled=false",
        "--audit-log-truncate-max-batch-size=10485760",
        "--audit-log-truncate-max-event-size=102400",
        "--audit-webhook-config-file=/w",
        "--audit-webhook-mode=batch",
        "--audit-webhook-initial-backoff=10s",
        "--audit-webhook-version=audit.k8s.io/v1",
        "--audit-webhook-batch-buffer-size=10000",
        "--audit-webhook-batch-max-size=400",
        "--audit-webhook-batch-max-wait=30s",
        "--audit-webhook-batch-throttle-burst=15",
        "--audit-webhook-batch-throttle-enable=true",
        "--audit-webhook-batch-throttle-qps=10",
        "--audit-webhook-truncate-enabled=false",
        "--audit-webhook-truncate-max-batch-size=10485760",
        "--audit-webhook-truncate-max-event-size=102400",
        // logging: component-base and klog
        "--v=4",
        "--vmodule=a=2",
        "--log-flush-frequency=5s",
        "--logtostderr=true",
        "--alsologtostderr=false",
        "--stderrthreshold=2",
        "--log_dir=/tmp",
        "--log_file=/tmp/a.log",
        "--log_file_max_size=1800",
        "--skip_headers=false",
        "--skip_log_headers",
        "--one_output=true",
        "--add_dir_header=false",
        "--log_backtrace_at=:0",
    ];
    let args = serve_args(&argv);
    assert_eq!(args.prometheus.prometheus_header, ["X-Scope-OrgID=a"]);
    let warning = args.inert.warning().expect("inert flags were given");
    assert!(
        warning.starts_with("flags accepted for compatibility"),
        "{warning}"
    );
    for flag in [
        "--audit-log-path (audit",
        "--log_dir (logs",
        "--vmodule (per-module",
    ] {
        assert!(warning.contains(flag), "{flag} missing from {warning}");
    }
    for effective in ["--v ", "--config", "--secure-port", "--logtostderr"] {
        assert!(!warning.contains(effective), "{effective} in {warning}");
    }
}

#[test]
fn klog_flags_take_either_spelling_and_booleans_are_read_as_go_reads_them() {
    let args = serve_args(&["/adapter", "--log-dir=/tmp", "--skip-headers=True"]);
    assert_eq!(
        args.inert.0.get("log_dir").map(String::as_str),
        Some("/tmp")
    );
    assert_eq!(
        args.inert.0.get("skip_headers").map(String::as_str),
        Some("True")
    );
    let args = serve_args(&["/adapter", "--disable-http2=1", "--logtostderr=F"]);
    assert!(args.serving.disable_http2);
    assert!(!args.log.logtostderr);
    let err = try_parse(["/adapter", "--profiling=maybe"]).unwrap_err();
    assert!(err.to_string().contains("invalid boolean"), "{err}");
}

/// `serve --help` lists no flag the server then refuses, and no hidden compatibility flag.
#[test]
fn help_lists_only_flags_that_work() {
    let err = try_parse(["metrics-adapter", "serve", "--help"]).unwrap_err();
    let help = err.to_string();
    for hidden in ["--audit-log-path", "--log_dir", "IGNORED"] {
        assert!(!help.contains(hidden), "{hidden} in help:\n{help}");
    }
    for shown in [
        "--prometheus-url",
        "--config",
        "--metrics-relist-interval",
        "--v ",
    ] {
        assert!(help.contains(shown), "{shown} not in help:\n{help}");
    }
}

/// `explain` takes serve's rules, cluster and Prometheus flags (the same clap Args), and
/// exactly one thing to explain.
#[test]
fn explain_takes_serves_flags_and_one_target() {
    let parsed = try_parse([
        "metrics-adapter",
        "explain",
        "--config=/c.yaml",
        "--lister-kubeconfig=/kc",
        "--prometheus-url=http://p:9090/prom/",
        "--prometheus-timeout=3s",
        "--metrics-max-age=20m",
        "--discovery-mode=series",
        "/apis/custom.metrics.k8s.io/v1beta1/namespaces/a/pods/*/m?labelSelector=app%3Dweb",
        "-o",
        "json",
    ]);
    let Ok(Cli {
        command: Command::Explain(args),
    }) = parsed
    else {
        panic!("{parsed:?}");
    };
    assert_eq!(
        args.rules.config.as_deref(),
        Some(std::path::Path::new("/c.yaml"))
    );
    assert_eq!(
        args.cluster.lister_kubeconfig.as_deref(),
        Some(std::path::Path::new("/kc"))
    );
    assert_eq!(
        args.prometheus.prometheus_url.as_str(),
        "http://p:9090/prom/"
    );
    assert_eq!(
        args.prometheus.prometheus_timeout,
        std::time::Duration::from_secs(3)
    );
    assert_eq!(
        args.rules.metrics_max_age,
        std::time::Duration::from_secs(1200)
    );
    assert_eq!(args.output, explain::Output::Json);
    assert!(
        args.path
            .as_deref()
            .unwrap()
            .ends_with("labelSelector=app%3Dweb")
    );
    // An HPA from a manifest, picked by name; one from the cluster; never a path with either.
    assert!(try_parse(["metrics-adapter", "explain", "-f", "h.yaml", "--hpa", "web"]).is_ok());
    assert!(try_parse(["metrics-adapter", "explain", "--hpa", "web", "-n", "prod"]).is_ok());
    assert!(try_parse(["metrics-adapter", "explain", "/apis/x", "--hpa", "web"]).is_err());
    assert!(try_parse(["metrics-adapter", "explain"]).is_err());
    // The credentials of --server go with --server only.
    assert!(try_parse(["metrics-adapter", "explain", "--hpa", "web", "--token", "t"]).is_err());
    assert!(
        try_parse([
            "metrics-adapter",
            "explain",
            "--server",
            "https://a:6443",
            "--token",
            "t",
            "--hpa",
            "web"
        ])
        .is_ok()
    );
}
