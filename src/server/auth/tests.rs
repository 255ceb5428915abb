use super::*;

fn attrs(path: &str) -> Attributes {
    Attributes::of(&Method::GET, path)
}

#[test]
fn request_attributes_as_the_apiserver_derives_them() {
    assert_eq!(
        attrs("/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/%2A/http_requests"),
        Attributes::Resource {
            verb: "get".into(),
            group: "custom.metrics.k8s.io".into(),
            version: "v1beta2".into(),
            namespace: "prod".into(),
            resource: "pods".into(),
            subresource: "http_requests".into(),
            name: "*".into(),
        }
    );
    assert_eq!(
        attrs("/apis/custom.metrics.k8s.io/v1beta1/namespaces/prod/metrics/m"),
        Attributes::Resource {
            verb: "get".into(),
            group: "custom.metrics.k8s.io".into(),
            version: "v1beta1".into(),
            namespace: "prod".into(),
            resource: "metrics".into(),
            subresource: String::new(),
            name: "m".into(),
        }
    );
    let external = attrs("/apis/external.metrics.k8s.io/v1beta1/namespaces/work/queue_depth");
    assert!(
        matches!(&external, Attributes::Resource { verb, resource, name, .. } if verb == "list" && resource == "queue_depth" && name.is_empty())
    );
    let nodes = attrs("/apis/metrics.k8s.io/v1beta1/nodes/n1");
    assert!(
        matches!(&nodes, Attributes::Resource { verb, resource, name, namespace, .. } if verb == "get" && resource == "nodes" && name == "n1" && namespace.is_empty())
    );
    for path in [
        "/apis",
        "/apis/custom.metrics.k8s.io",
        "/apis/custom.metrics.k8s.io/v1beta1",
        "/metrics",
        "/openapi/v2",
    ] {
        assert_eq!(
            attrs(path),
            Attributes::NonResource {
                verb: "get".into(),
                path: path.into()
            },
            "{path}"
        );
    }
}

#[test]
fn forbidden_messages() {
    let user = "system:serviceaccount:kube-system:horizontal-pod-autoscaler";
    match attrs("/apis/custom.metrics.k8s.io/v1beta2/namespaces/prod/pods/%2A/http_requests")
        .forbidden(user)
    {
        ApiError::Forbidden {
            message,
            name,
            group,
            kind,
        } => {
            assert_eq!(
                message,
                format!(
                    "pods.custom.metrics.k8s.io \"*\" is forbidden: User \"{user}\" cannot get resource \"pods/http_requests\" in API group \"custom.metrics.k8s.io\" in the namespace \"prod\""
                )
            );
            assert_eq!(
                (name.as_str(), group.as_str(), kind.as_str()),
                ("*", "custom.metrics.k8s.io", "pods")
            );
        }
        other => panic!("{other:?}"),
    }
    match attrs("/metrics").forbidden("u") {
        ApiError::Forbidden { message, .. } => assert_eq!(
            message,
            "forbidden: User \"u\" cannot get path \"/metrics\""
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn review_specs() {
    let user = UserInfo {
        name: "u".into(),
        uid: String::new(),
        groups: vec!["g".into(), AUTHENTICATED.into()],
        extra: BTreeMap::new(),
    };
    let spec = attrs("/apis/metrics.k8s.io/v1beta1/namespaces/d/pods").review_spec(&user);
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "extra": {},
            "groups": ["g", "system:authenticated"],
            "resourceAttributes": {"group": "metrics.k8s.io", "namespace": "d", "resource": "pods", "verb": "list", "version": "v1beta1"},
            "user": "u"
        })
    );
}

#[test]
fn front_proxy_headers() {
    let mut headers = HeaderMap::new();
    headers.append("x-remote-user", "alice".parse().unwrap());
    headers.append("x-remote-group", "team-a".parse().unwrap());
    headers.append("x-remote-group", "system:masters".parse().unwrap());
    headers.append(
        "x-remote-extra-authentication.kubernetes.io%2fpod-name",
        "p-0".parse().unwrap(),
    );
    headers.append("X-Remote-Uid", "1234".parse().unwrap());
    let user = from_request_headers(&AuthenticationConfig::default(), &headers).unwrap();
    assert_eq!(user.name, "alice");
    assert_eq!(user.groups, ["team-a", "system:masters"]);
    assert_eq!(user.uid, "1234");
    assert_eq!(user.extra["authentication.kubernetes.io/pod-name"], ["p-0"]);
    let custom = AuthenticationConfig {
        username_headers: vec!["X-Who".into()],
        ..AuthenticationConfig::default()
    };
    assert!(from_request_headers(&custom, &headers).is_none());
}

#[test]
fn bearer_tokens() {
    let mut headers = HeaderMap::new();
    assert_eq!(bearer_token(&headers), None);
    headers.insert("authorization", "Bearer abc ".parse().unwrap());
    assert_eq!(bearer_token(&headers), Some("abc"));
    headers.insert("authorization", "Basic abc".parse().unwrap());
    assert_eq!(bearer_token(&headers), None);
    headers.insert("authorization", "bearer  ".parse().unwrap());
    assert_eq!(bearer_token(&headers), None);
}

/// A CA, and client certificates it issued for these CNs (clientAuth usage).
struct Pki {
    ca_pem: String,
    chains: Vec<PeerCertificates>,
}

fn pki(cns: &[&str]) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "front-proxy-ca");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let chains = cns
        .iter()
        .map(|cn| {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, *cn);
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
            let cert = params.signed_by(&key, &issuer).unwrap();
            PeerCertificates(Arc::new(vec![cert.der().clone()]))
        })
        .collect();
    Pki {
        ca_pem: ca.pem(),
        chains,
    }
}

/// An `Auth` whose reviewers point nowhere: these tests never reach them.
fn auth(config: AuthenticationConfig) -> Auth {
    let nowhere =
        kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
    Auth::new(
        config,
        Reviewer::new(nowhere.clone()),
        Reviewer::new(nowhere),
        AuthOptions {
            always_allow_paths: vec!["/healthz".into()],
            always_allow_groups: vec!["system:masters".into()],
            token_cache_ttl: Duration::from_secs(10),
            authorized_ttl: Duration::from_secs(10),
            unauthorized_ttl: Duration::from_secs(10),
        },
    )
    .unwrap()
}

#[tokio::test]
async fn front_proxy_headers_count_only_behind_an_allowed_certificate_of_the_request_header_ca() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let trusted = pki(&["front-proxy-client", "someone-else"]);
    let stranger = pki(&["front-proxy-client"]);
    let auth = auth(AuthenticationConfig {
        requestheader_ca: Some(trusted.ca_pem.clone()),
        allowed_names: vec!["front-proxy-client".into()],
        ..AuthenticationConfig::default()
    });
    let mut headers = HeaderMap::new();
    headers.append("x-remote-user", "alice".parse().unwrap());
    headers.append("x-remote-group", "team-a".parse().unwrap());

    let user = auth
        .authenticate(Some(&trusted.chains[0]), &headers)
        .await
        .unwrap();
    assert_eq!(user.name, "alice");
    assert_eq!(user.groups, ["team-a", "system:authenticated"]);

    // The right CA but a CN that is not allowed, or an allowed CN from another CA: the
    // credential does not verify, so 401, never anonymous.
    for chain in [&trusted.chains[1], &stranger.chains[0]] {
        assert_eq!(
            auth.authenticate(Some(chain), &headers).await,
            Err(ApiError::Unauthorized)
        );
    }
    // Without a certificate the headers are ignored: anonymous.
    let anonymous = auth.authenticate(None, &headers).await.unwrap();
    assert_eq!(anonymous.name, "system:anonymous");

    // With no allowed names, any certificate of the CA will do.
    let open = self::auth(AuthenticationConfig {
        requestheader_ca: Some(trusted.ca_pem.clone()),
        ..AuthenticationConfig::default()
    });
    let user = open
        .authenticate(Some(&trusted.chains[1]), &headers)
        .await
        .unwrap();
    assert_eq!(user.name, "alice");
}

#[tokio::test]
async fn masters_and_always_allowed_paths_need_no_review() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let auth = auth(AuthenticationConfig::default());
    let master = UserInfo {
        name: "admin".into(),
        groups: vec!["system:masters".into()],
        ..UserInfo::default()
    };
    let nobody = UserInfo {
        name: "system:anonymous".into(),
        ..UserInfo::default()
    };
    let path = "/apis/custom.metrics.k8s.io/v1beta1/namespaces/a/pods/*/m";
    assert!(auth.authorize(&master, &Method::GET, path).await.is_ok());
    assert!(
        auth.authorize(&nobody, &Method::GET, "/healthz")
            .await
            .is_ok()
    );
    // Anyone else needs a SubjectAccessReview; the cluster cannot be asked here: a 500, not a
    // 403 (kube-apiserver answers authorizer errors so).
    match auth.authorize(&nobody, &Method::GET, path).await {
        Err(ApiError::Internal(cause)) => {
            assert!(cause.contains("SubjectAccessReview failed"), "{cause}")
        }
        other => panic!("{other:?}"),
    }
}
