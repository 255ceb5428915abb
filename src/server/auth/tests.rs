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
