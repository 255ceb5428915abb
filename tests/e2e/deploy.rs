//! The shipped manifests stay in step with the binary: the Deployment's args are flags the
//! adapter accepts, and the ConfigMap's rules load without warnings.

use metrics_adapter::cli::{self, Command};
use serde_json::Value;

fn documents(file: &str) -> Vec<Value> {
    let path = format!("{}/deploy/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

#[test]
fn deployment_args_and_rules_are_accepted() {
    let docs = documents("metrics-adapter.yaml");
    let deployment = of_kind(&docs, "Deployment")[0];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mut args = vec!["/adapter".to_string()];
    args.extend(
        container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string()),
    );
    match cli::try_parse(&args) {
        Ok(parsed) => assert!(matches!(parsed.command, Command::Serve(_))),
        Err(e) => panic!("{args:?}: {e}"),
    }
    let config = of_kind(&docs, "ConfigMap")[0]["data"]["config.yaml"]
        .as_str()
        .unwrap()
        .to_string();
    let rules = metrics_adapter::rules::parse(&config, "adapter-config").unwrap();
    assert!(rules.warnings.is_empty(), "{:?}", rules.warnings);
    assert_eq!(rules.custom.len(), 2);
    let services: Vec<&str> = of_kind(&docs, "APIService")
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        services,
        [
            "v1beta2.custom.metrics.k8s.io",
            "v1beta1.custom.metrics.k8s.io",
            "v1beta1.external.metrics.k8s.io"
        ]
    );
    let resource = documents("resource-metrics-apiservice.yaml");
    assert_eq!(
        of_kind(&resource, "APIService")[0]["spec"]["group"],
        "metrics.k8s.io"
    );
}
