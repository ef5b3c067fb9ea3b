//! Keel's Kubernetes manifests (`k8s/`): every overlay renders, every object is a valid
//! Kubernetes API object, and the deployment it describes would run: each target of
//! `keel_config::ServiceName::ALL` and the gateway with a Deployment, Service and
//! PodDisruptionBudget, probes, requests and limits, autoscalers for the gateway and process
//! APIs, a configuration Keel's own loader accepts, and network policies that let calls go down
//! the layers only. Rendering is done in Rust (tests/k8s/render.rs), and compared with
//! `kubectl kustomize` where kubectl is installed.

#[path = "k8s/checks.rs"]
mod checks;
#[path = "k8s/netpol.rs"]
mod netpol;
#[path = "k8s/render.rs"]
mod render;
#[path = "k8s/targets.rs"]
mod targets;
#[path = "k8s/typed.rs"]
mod typed;
#[path = "k8s/wiring.rs"]
mod wiring;

use std::path::{Path, PathBuf};
use std::process::Command;

use keel_config::AuthMode;
use serde_json::{Value, json};

use targets::Target;
use typed::Manifests;

const OVERLAYS: [&str; 2] = ["dev", "prod"];

fn overlay_dir(overlay: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s/overlays").join(overlay)
}

fn rendered(overlay: &str) -> Vec<Value> {
    render::render(&overlay_dir(overlay)).unwrap_or_else(|e| panic!("rendering {overlay}: {e:#}"))
}

/// Objects in a stable order: by kind, namespace and name.
fn sorted(mut objects: Vec<Value>) -> Vec<Value> {
    let key = |o: &Value| {
        (
            render::kind(o).to_owned(),
            o["metadata"]["namespace"].as_str().unwrap_or_default().to_owned(),
            render::name(o).to_owned(),
        )
    };
    objects.sort_by_key(key);
    objects
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|output| output.status.success())
}

#[test]
fn the_rust_rendering_matches_kubectl_kustomize() {
    if !kubectl_available() {
        eprintln!("kubectl is not installed: only the Rust rendering of k8s/ is checked");
        return;
    }
    for overlay in OVERLAYS {
        let output = Command::new("kubectl")
            .arg("kustomize")
            .arg(overlay_dir(overlay))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "kubectl kustomize {overlay}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let from_kubectl = sorted(render::parse_documents(&String::from_utf8(output.stdout).unwrap()).unwrap());
        let from_rust = sorted(rendered(overlay));
        let names = |objects: &[Value]| {
            objects
                .iter()
                .map(|o| format!("{} {}", render::kind(o), render::name(o)))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&from_rust), names(&from_kubectl), "{overlay}: the same objects");
        for (ours, theirs) in from_rust.iter().zip(&from_kubectl) {
            let difference = typed::first_difference(ours, theirs, String::new());
            assert!(
                difference.is_none(),
                "{overlay}: {} {} differs from kubectl's at {difference:?}",
                render::kind(ours),
                render::name(ours)
            );
        }
    }
}

#[test]
fn every_overlay_keeps_every_rule() {
    for overlay in OVERLAYS {
        let objects = rendered(overlay);
        let problems = checks::problems(&objects);
        assert!(problems.is_empty(), "{overlay}:\n  {}", problems.join("\n  "));
        let manifests = Manifests::from_objects(&objects).unwrap();
        // What the rules above take for granted: the whole deployment is there.
        assert_eq!(manifests.deployments.len(), Target::all().len(), "{overlay}");
        let autoscaled = Target::all().into_iter().filter(|t| t.autoscaled()).count();
        assert_eq!(
            manifests.autoscalers.len(),
            autoscaled,
            "{overlay}: the gateway and the process APIs"
        );
        assert!(
            autoscaled >= 3,
            "{overlay}: the gateway, project setup and time capture at least"
        );
        assert_eq!(manifests.namespaces.len(), 1, "{overlay}");
    }
}

/// The configuration the gateway starts with in an overlay.
fn gateway_config(manifests: &Manifests) -> keel_config::KeelConfig {
    let gateway = manifests.deployment("keel-gateway").unwrap();
    wiring::load_config(manifests, gateway, checks::main_container(gateway).unwrap()).unwrap()
}

#[test]
fn prod_runs_more_replicas_and_stricter_settings_than_dev() {
    let dev = Manifests::from_objects(&rendered("dev")).unwrap();
    let prod = Manifests::from_objects(&rendered("prod")).unwrap();
    for target in Target::all() {
        let name = target.object_name();
        if target.autoscaled() {
            let bounds = |m: &Manifests| {
                let spec = typed::find(&m.autoscalers, &name).unwrap().spec.clone();
                (spec.min_replicas.unwrap_or(1), spec.max_replicas)
            };
            let ((dev_min, dev_max), (prod_min, prod_max)) = (bounds(&dev), bounds(&prod));
            assert!(
                prod_min >= 2 && prod_min > dev_min,
                "{name}: prod keeps at least two, more than dev"
            );
            assert!(prod_max > dev_max, "{name}: prod may grow further than dev");
        } else {
            let replicas = |m: &Manifests| m.deployment(&name).unwrap().spec.replicas.unwrap();
            assert_eq!(replicas(&dev), 1, "{name}");
            assert!(replicas(&prod) >= 2, "{name}: prod survives the loss of a pod");
        }
        let image = |m: &Manifests| {
            checks::main_container(m.deployment(&name).unwrap())
                .unwrap()
                .image
                .clone()
        };
        assert_ne!(image(&dev), image(&prod), "{name}: prod runs a released image");
    }
    let (dev_config, prod_config) = (gateway_config(&dev), gateway_config(&prod));
    assert_eq!(dev_config.auth.mode, AuthMode::Local);
    assert_eq!(
        prod_config.auth.mode,
        AuthMode::Jwks,
        "prod verifies tokens from the identity provider"
    );
    assert_eq!(dev_config.limits.graphql_introspection, Some(true));
    assert_eq!(
        prod_config.limits.graphql_introspection,
        Some(false),
        "prod hides the schema"
    );
    assert!(!dev.secrets.is_empty(), "dev brings its own development Secrets");
    assert!(
        prod.secrets.is_empty(),
        "prod's Secrets come from the secret store, never from the manifests"
    );
    assert_ne!(dev.namespaces[0].metadata.name, prod.namespaces[0].metadata.name);
}

/// The dev rendering with one object changed.
fn broken(kind: &str, name: &str, change: impl FnOnce(&mut Value)) -> Vec<Value> {
    let mut objects = rendered("dev");
    let object = objects
        .iter_mut()
        .find(|o| render::kind(o) == kind && render::name(o) == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"));
    change(object);
    objects
}

fn keel_container(deployment: &mut Value) -> &mut Value {
    &mut deployment["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn the_rules_catch_broken_manifests() {
    type Breakage = (&'static str, Vec<Value>, &'static str);
    let cases: Vec<Breakage> = vec![
        (
            "a misspelt field",
            broken("Deployment", "keel-crm", |d| {
                let probe = keel_container(d)
                    .as_object_mut()
                    .unwrap()
                    .remove("livenessProbe")
                    .unwrap();
                keel_container(d)["livenesProbe"] = probe;
            }),
            "livenesProbe",
        ),
        (
            "no readiness probe",
            broken("Deployment", "keel-psa", |d| {
                keel_container(d).as_object_mut().unwrap().remove("readinessProbe");
            }),
            "keel-psa: container keel has no readiness probe",
        ),
        (
            "readiness asks for another service",
            broken("Deployment", "keel-erp", |d| {
                keel_container(d)["readinessProbe"]["grpc"]["service"] = json!("keel.crm.v1.CrmService");
            }),
            "must ask for service keel.erp.v1.ErpService",
        ),
        (
            "no memory limit",
            broken("Deployment", "keel-gateway", |d| {
                keel_container(d)["resources"]["limits"]
                    .as_object_mut()
                    .unwrap()
                    .remove("memory");
            }),
            "keel-gateway: container keel needs a memory request and limit",
        ),
        (
            "a writable root filesystem",
            broken("Deployment", "keel-hris", |d| {
                keel_container(d)["securityContext"]["readOnlyRootFilesystem"] = json!(false);
            }),
            "must set readOnlyRootFilesystem: true",
        ),
        (
            "no migration before start",
            broken("Deployment", "keel-documents", |d| {
                d["spec"]["template"]["spec"]
                    .as_object_mut()
                    .unwrap()
                    .remove("initContainers");
            }),
            "keel-documents: one init container must run `keel --config /etc/keel/keel.toml migrate --target documents`",
        ),
        (
            "a budget that selects nothing",
            broken("PodDisruptionBudget", "keel-support", |b| {
                b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = json!("keel-suport");
            }),
            "PodDisruptionBudget keel-support does not select the pods of Deployment keel-support",
        ),
        (
            "a budget that blocks drains",
            broken("PodDisruptionBudget", "keel-crm", |b| {
                b["spec"]["maxUnavailable"] = json!(0);
            }),
            "node drains would stall",
        ),
        (
            "replicas fighting the autoscaler",
            broken("Deployment", "keel-project-setup", |d| d["spec"]["replicas"] = json!(2)),
            "Deployment keel-project-setup sets replicas",
        ),
        (
            "replicas that may share a node",
            broken("Deployment", "keel-erp", |d| {
                d["spec"]["template"]["spec"]
                    .as_object_mut()
                    .unwrap()
                    .remove("topologySpreadConstraints");
            }),
            "keel-erp: pods must spread across nodes",
        ),
        (
            "a typo in keel.toml",
            broken("ConfigMap", "keel-config", |c| {
                let text = c["data"]["keel.toml"]
                    .as_str()
                    .unwrap()
                    .replace("call_timeout_ms", "call_timout_ms");
                c["data"]["keel.toml"] = json!(text);
            }),
            "services.call_timout_ms",
        ),
        (
            "an endpoint naming no Service",
            broken("ConfigMap", "keel-config", |c| {
                let text = c["data"]["keel.toml"]
                    .as_str()
                    .unwrap()
                    .replace("http://keel-psa:", "http://psa:");
                c["data"]["keel.toml"] = json!(text);
            }),
            "keel-gateway: services.psa",
        ),
        (
            "system APIs calling each other",
            broken("NetworkPolicy", "keel-system", |p| {
                p["spec"]["ingress"][0]["from"][0]["podSelector"] = json!({"matchExpressions": [
                    {"key": "keel.dev/layer", "operator": "In", "values": ["process", "system"]},
                ]});
                p["spec"]["egress"].as_array_mut().unwrap().push(json!({
                    "to": [{ "podSelector": { "matchLabels": { "keel.dev/layer": "system" } } }],
                }));
            }),
            "keel-crm (system) -> keel-psa (system) port 50051 is allowed",
        ),
        (
            "process APIs closed to the gateway",
            broken("NetworkPolicy", "keel-process", |p| {
                p["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"] = json!({"keel.dev/layer": "process"});
            }),
            "keel-gateway cannot reach keel-project-setup, which it calls",
        ),
        (
            "the gateway reaching a system API it does not read",
            broken("NetworkPolicy", "keel-system", |p| {
                p["spec"]["ingress"][0]["from"][0]["podSelector"] = json!({"matchExpressions": [
                    {"key": "keel.dev/layer", "operator": "In", "values": ["process", "experience"]},
                ]});
            }),
            "keel-gateway (experience) -> keel-crm (system) port 50051 is allowed",
        ),
        (
            "the gateway cut off from ERP",
            broken("NetworkPolicy", "keel-system-read-by-gateway", |p| {
                p["spec"]["podSelector"]["matchExpressions"][0]["values"] = json!(["keel-psa"]);
            }),
            "keel-gateway cannot reach keel-erp, which it calls",
        ),
        (
            "the close-out cut off from billing's exception history",
            broken("NetworkPolicy", "keel-exception-history-read-by-close-out", |p| {
                p["spec"]["podSelector"]["matchExpressions"][0]["values"] =
                    json!(["keel-time-capture", "keel-staffing", "keel-change-orders"]);
            }),
            "keel-close-out cannot reach keel-billing, which it calls",
        ),
        (
            "no way to the database",
            broken("NetworkPolicy", "keel-system", |p| {
                p["spec"]["egress"].as_array_mut().unwrap().remove(0);
            }),
            "keel-crm cannot reach postgres",
        ),
        (
            "no autoscaler for the gateway",
            broken("HorizontalPodAutoscaler", "keel-gateway", |h| {
                h["spec"]["scaleTargetRef"]["name"] = json!("keel-gatewy");
            }),
            "Deployment keel-gateway needs exactly one HorizontalPodAutoscaler",
        ),
    ];
    for (what, objects, expected) in cases {
        let problems = checks::problems(&objects);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{what}: expected a problem containing {expected:?}, got:\n  {}",
            problems.join("\n  ")
        );
    }
}

#[test]
fn a_patch_merges_containers_by_name_and_null_deletes() {
    let mut deployment = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "keel", "image": "keel", "resources": {"limits": {"cpu": "1"}}},
        {"name": "sidecar", "image": "proxy"},
    ]}}}});
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": null},
        {"name": "keel", "resources": {"limits": {"memory": "1Gi"}}},
    ]}}}});
    render::strategic_merge(&mut deployment, &patch).unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"],
        json!([
            {"name": "keel", "image": "keel", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "sidecar"},
        ])
    );
    assert_eq!(
        render::split_image("registry:5000/keel:1.2"),
        ("registry:5000/keel", Some("1.2"))
    );
    assert_eq!(render::split_image("registry:5000/keel"), ("registry:5000/keel", None));
}
