//! Delegated authentication and authorization: the front proxy's headers trusted only behind its
//! verified certificate, client certificates, bearer tokens reviewed by the cluster, anonymous
//! requests, `system:masters` and the health paths without a SubjectAccessReview, and the 401 and
//! 403 Status bodies the apiserver writes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::adapter::Adapter;
use crate::support::kube::{self, ApiService, KubeDouble, UserInfo};
use crate::support::world::{ASR_RULES, World};

const METRIC: &str = "/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/%2A/asr_active_requests?labelSelector=app%3Dasr";
const HPA: &str = "system:serviceaccount:kube-system:horizontal-pod-autoscaler";

/// A CA and a client certificate it issued (PEM, certificate then key).
struct Ca {
    pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    fn client(&self, cn: &str, orgs: &[&str]) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        for o in orgs {
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationName, *o);
        }
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        format!("{}{}", cert.pem(), key.serialize_pem())
    }
}

fn client_with(identity: Option<&str>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().danger_accept_invalid_certs(true);
    if let Some(pem) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

async fn get(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut request = client.get(url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn reviews_for(cluster: &KubeDouble) -> usize {
    cluster
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/subjectaccessreviews"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_is_asking_and_may_they() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let front_proxy_ca = Ca::new("front-proxy-ca");
    let client_ca = Ca::new("client-ca");
    let world = World::asr(3.0, |cluster, _| {
        cluster.apply(kube::extension_apiserver_authentication(
            &client_ca.pem,
            &front_proxy_ca.pem,
        ));
    })
    .await;
    let cluster = &world.cluster;
    cluster.add_token(
        "hpa-token",
        UserInfo {
            username: HPA.into(),
            uid: "uid-hpa".into(),
            groups: vec!["system:serviceaccounts".into()],
        },
    );
    cluster.add_token(
        "viewer-token",
        UserInfo {
            username: "viewer".into(),
            uid: String::new(),
            groups: vec!["viewers".into()],
        },
    );
    // RBAC as a cluster would have it: the HPA and alice may read custom metrics, nobody else.
    cluster.set_authorizer(|spec| {
        let user = spec["user"].as_str().unwrap_or_default();
        let group = spec["resourceAttributes"]["group"]
            .as_str()
            .unwrap_or_default();
        (user == HPA || user == "alice") && group == "custom.metrics.k8s.io"
    });
    let adapter = world.adapter(Adapter::builder(ASR_RULES)).await;
    let url = format!("{}{METRIC}", adapter.url());
    let plain = client_with(None);

    // Health paths need no authorization; a kubelet probe carries no credentials.
    let (status, _) = get(&plain, &format!("{}/readyz", adapter.url()), None, &[]).await;
    assert_eq!(status, StatusCode::OK);

    // A bearer token of system:masters: allowed without a SubjectAccessReview.
    let before = reviews_for(cluster);
    let (status, body) = get(&plain, &url, Some("test"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["value"], "3");
    assert_eq!(reviews_for(cluster), before);

    // The HPA's token: reviewed, then allowed by RBAC; the review is cached.
    let (status, _) = get(&plain, &url, Some("hpa-token"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let after_first = reviews_for(cluster);
    assert_eq!(after_first, before + 1);
    let (status, _) = get(&plain, &url, Some("hpa-token"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reviews_for(cluster), after_first);
    let review = cluster
        .requests()
        .into_iter()
        .rfind(|r| r.path.ends_with("/subjectaccessreviews"))
        .unwrap();
    assert_eq!(review.method, "POST");

    // An unknown token is a 401, never anonymous.
    let (status, body) = get(&plain, &url, Some("forged"), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );

    // Anonymous, and front-proxy headers on a connection without the proxy's certificate: the
    // headers are not trusted and RBAC denies.
    for headers in [
        vec![],
        vec![("X-Remote-User", HPA), ("X-Remote-Group", "system:masters")],
    ] {
        let (status, body) = get(&plain, &url, None, &headers).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["reason"], "Forbidden");
        assert_eq!(
            body["message"],
            "pods.custom.metrics.k8s.io \"*\" is forbidden: User \"system:anonymous\" cannot get resource \"pods/asr_active_requests\" in API group \"custom.metrics.k8s.io\" in the namespace \"speech\""
        );
        assert_eq!(
            body["details"],
            json!({"name": "*", "group": "custom.metrics.k8s.io", "kind": "pods"})
        );
    }

    // A client certificate from the client CA: user = CN, groups = O.
    let alice = client_with(Some(&client_ca.client("alice", &["team-speech"])));
    let (status, body) = get(&alice, &url, None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A certificate from an unknown CA is a 401.
    let stranger = client_with(Some(&Ca::new("other").client("alice", &[])));
    let (status, _) = get(&stranger, &url, None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The front proxy: its certificate (CN front-proxy-client) makes its headers trusted.
    let proxy = client_with(Some(&front_proxy_ca.client("front-proxy-client", &[])));
    let (status, body) = get(
        &proxy,
        &url,
        None,
        &[
            ("X-Remote-User", "viewer"),
            ("X-Remote-Group", "system:masters"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = get(&proxy, &url, None, &[("X-Remote-User", "viewer")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("User \"viewer\""),
        "{body}"
    );
    // A proxy certificate whose CN is not an allowed name is a 401.
    let impostor = client_with(Some(&front_proxy_ca.client("someone-else", &[])));
    let (status, _) = get(
        &impostor,
        &url,
        None,
        &[
            ("X-Remote-User", "viewer"),
            ("X-Remote-Group", "system:masters"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // End to end through the API double's aggregator, which presents the proxy certificate and
    // forwards the caller's identity: the HPA's token is allowed, the viewer's is not.
    cluster.register_api_service(
        ApiService::new("custom.metrics.k8s.io", "v1beta1", &adapter.url())
            .with_client_identity(front_proxy_ca.client("front-proxy-client", &[]).as_bytes()),
    );
    let through = format!("{}{METRIC}", cluster.url());
    let (status, body) = get(&plain, &through, Some("hpa-token"), &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["value"], "3");
    let (status, body) = get(&plain, &through, Some("viewer-token"), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // kubectl against the adapter itself, with a token the cluster reviews.
    let output = adapter
        .kubectl(&[
            "get",
            "--raw",
            "/apis/custom.metrics.k8s.io/v1beta1/namespaces/speech/pods/*/asr_active_requests?labelSelector=app%3Dasr",
        ])
        .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
