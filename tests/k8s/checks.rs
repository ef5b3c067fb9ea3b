//! The rules a rendered overlay must keep for its workloads: every target has a Deployment,
//! Service and PodDisruptionBudget that fit together; every container has probes, requests,
//! limits and a locked-down security context; the gateway and process APIs are autoscaled.
//! Each check adds one line per broken rule to `problems`, naming the object.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodSpec, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::netpol::{Labels, selects};
use crate::render::split_image;
use crate::targets::{CONFIG_PATH, Target};
use crate::typed::{Manifests, find};
use crate::wiring;

/// Every broken rule of a rendered overlay, one line each; empty when it is sound.
pub fn problems(objects: &[Value]) -> Vec<String> {
    let manifests = match Manifests::from_objects(objects) {
        Ok(manifests) => manifests,
        Err(error) => return vec![format!("{error:#}")],
    };
    let mut problems = Vec::new();
    check_targets(&manifests, &mut problems);
    check_containers(&manifests, &mut problems);
    check_disruption_budgets(&manifests, &mut problems);
    check_services(&manifests, &mut problems);
    check_autoscalers(&manifests, &mut problems);
    check_node_loss(&manifests, &mut problems);
    wiring::check_configuration(&manifests, &mut problems);
    wiring::check_network(&manifests, &mut problems);
    problems
}

/// The pod spec of a Deployment.
pub fn pod_spec(deployment: &Deployment) -> Option<&PodSpec> {
    deployment.spec.template.spec.as_ref()
}

/// The labels of a Deployment's pods.
pub fn pod_labels(deployment: &Deployment) -> Labels {
    deployment
        .spec
        .template
        .metadata
        .as_ref()
        .and_then(|metadata| metadata.labels.clone())
        .unwrap_or_default()
}

/// The container running `keel run`.
pub fn main_container(deployment: &Deployment) -> Option<&Container> {
    pod_spec(deployment)?.containers.iter().find(|c| c.name == "keel")
}

/// The number of the container port called `name`.
pub fn container_port(container: &Container, name: &str) -> Option<i32> {
    container
        .ports
        .iter()
        .flatten()
        .find(|port| port.name.as_deref() == Some(name))
        .map(|port| port.container_port)
}

fn check_targets(manifests: &Manifests, problems: &mut Vec<String>) {
    let expected: Vec<String> = Target::all().into_iter().map(Target::object_name).collect();
    for deployment in &manifests.deployments {
        let name = deployment.metadata.name.clone().unwrap_or_default();
        if !expected.contains(&name) {
            problems.push(format!("Deployment {name} runs no Keel target"));
        }
    }
    for target in Target::all() {
        let name = target.object_name();
        if manifests.service(&name).is_none() {
            problems.push(format!("Service {name} is missing"));
        }
        if find(&manifests.disruption_budgets, &name).is_none() {
            problems.push(format!("PodDisruptionBudget {name} is missing"));
        }
        let Some(deployment) = manifests.deployment(&name) else {
            problems.push(format!("Deployment {name} is missing"));
            continue;
        };
        if pod_labels(deployment).get("keel.dev/layer").map(String::as_str) != Some(target.layer()) {
            problems.push(format!("{name}: pods must carry keel.dev/layer={}", target.layer()));
        }
        let Some(keel) = main_container(deployment) else {
            problems.push(format!("{name}: no container named keel"));
            continue;
        };
        let run = ["--config", CONFIG_PATH, "run", "--target", target.name()];
        if keel.args.as_deref() != Some(&run.map(String::from)[..]) {
            problems.push(format!(
                "{name}: container keel must run `keel {}`, not {:?}",
                run.join(" "),
                keel.args
            ));
        }
        let migrate = ["--config", CONFIG_PATH, "migrate", "--target", target.name()].map(String::from);
        let migrations: Vec<&Container> = pod_spec(deployment)
            .and_then(|spec| spec.init_containers.as_ref())
            .into_iter()
            .flatten()
            .filter(|c| c.args.as_ref().is_some_and(|args| args.iter().any(|a| a == "migrate")))
            .collect();
        match (target, migrations.as_slice()) {
            (Target::Gateway, []) => {}
            (Target::Gateway, _) => problems.push(format!("{name}: the gateway has no store to migrate")),
            (Target::Service(_), [init]) if init.args.as_deref() == Some(&migrate[..]) => {
                if init.image != keel.image {
                    problems.push(format!("{name}: migrations must run the image the service runs"));
                }
            }
            (Target::Service(_), _) => {
                problems.push(format!(
                    "{name}: one init container must run `keel {}`",
                    migrate.join(" ")
                ));
            }
        }
    }
}

fn check_containers(manifests: &Manifests, problems: &mut Vec<String>) {
    for deployment in &manifests.deployments {
        let name = deployment.metadata.name.clone().unwrap_or_default();
        let Some(spec) = pod_spec(deployment) else {
            problems.push(format!("{name}: no pod spec"));
            continue;
        };
        let pod_non_root = spec.security_context.as_ref().and_then(|s| s.run_as_non_root) == Some(true);
        let init = spec.init_containers.iter().flatten().map(|c| (c, true));
        for (container, is_init) in spec.containers.iter().map(|c| (c, false)).chain(init) {
            let at = format!("{name}: container {}", container.name);
            if !is_init {
                for (probe, what) in [
                    (&container.liveness_probe, "liveness"),
                    (&container.readiness_probe, "readiness"),
                ] {
                    if probe.is_none() {
                        problems.push(format!("{at} has no {what} probe"));
                    }
                }
                check_probes(deployment, container, &at, problems);
            }
            check_resources(container, &at, problems);
            let security = container.security_context.as_ref();
            if security.and_then(|s| s.allow_privilege_escalation) != Some(false) {
                problems.push(format!("{at} must set allowPrivilegeEscalation: false"));
            }
            if security.and_then(|s| s.read_only_root_filesystem) != Some(true) {
                problems.push(format!("{at} must set readOnlyRootFilesystem: true"));
            }
            if !pod_non_root && security.and_then(|s| s.run_as_non_root) != Some(true) {
                problems.push(format!("{at} must run as non-root"));
            }
            match container.image.as_deref().map(split_image) {
                Some((image, Some(_))) if image != "keel" => {}
                other => problems.push(format!("{at}: image {other:?} is not pinned by the overlay (images:)")),
            }
        }
    }
}

/// gRPC targets probe their gRPC health service; the gateway its `/healthz` and `/readyz`.
fn check_probes(deployment: &Deployment, container: &Container, at: &str, problems: &mut Vec<String>) {
    let name = deployment.metadata.name.as_deref().unwrap_or_default();
    let Some(target) = Target::all().into_iter().find(|t| t.object_name() == name) else {
        return;
    };
    let grpc_port = |probe: &Option<Probe>| probe.as_ref().and_then(|p| p.grpc.as_ref()).map(|g| g.port);
    let http_path = |probe: &Option<Probe>| {
        let get = probe.as_ref().and_then(|p| p.http_get.as_ref())?;
        let port_ok = get.port == IntOrString::String("http".into())
            || Some(&get.port) == container_port(container, "http").map(IntOrString::Int).as_ref();
        port_ok.then(|| get.path.clone().unwrap_or_default())
    };
    match target.grpc_service() {
        Some(service) => {
            let port = container_port(container, "grpc");
            if port.is_none()
                || grpc_port(&container.liveness_probe) != port
                || grpc_port(&container.readiness_probe) != port
            {
                problems.push(format!(
                    "{at}: liveness and readiness must be gRPC probes on the grpc port"
                ));
            }
            let asked = container
                .readiness_probe
                .as_ref()
                .and_then(|p| p.grpc.as_ref()?.service.as_deref());
            if asked != Some(service) {
                problems.push(format!(
                    "{at}: the readiness probe must ask for service {service}, not {asked:?}"
                ));
            }
        }
        None => {
            if http_path(&container.liveness_probe).as_deref() != Some("/healthz") {
                problems.push(format!("{at}: liveness must be GET /healthz on the http port"));
            }
            if http_path(&container.readiness_probe).as_deref() != Some("/readyz") {
                problems.push(format!("{at}: readiness must be GET /readyz on the http port"));
            }
        }
    }
}

fn check_resources(container: &Container, at: &str, problems: &mut Vec<String>) {
    let resources = container.resources.as_ref();
    for resource in ["cpu", "memory"] {
        let request = resources
            .and_then(|r| r.requests.as_ref()?.get(resource))
            .map(|q| q.0.as_str());
        let limit = resources
            .and_then(|r| r.limits.as_ref()?.get(resource))
            .map(|q| q.0.as_str());
        match (request.and_then(quantity), limit.and_then(quantity)) {
            (Some(request), Some(limit)) if request > 0.0 && request <= limit => {}
            (Some(_), Some(_)) => problems.push(format!(
                "{at}: {resource} request must be positive and within its limit"
            )),
            _ => problems.push(format!(
                "{at} needs a {resource} request and limit (requests {request:?}, limits {limit:?})"
            )),
        }
    }
}

/// A Kubernetes quantity (`500m`, `2`, `256Mi`) as a number, for comparisons only.
fn quantity(text: &str) -> Option<f64> {
    let suffixes: [(&str, f64); 8] = [
        ("m", 1e-3),
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("", 1.0),
    ];
    suffixes.iter().find_map(|(suffix, factor)| {
        let number = text.strip_suffix(suffix)?;
        number.parse::<f64>().ok().map(|n| n * factor)
    })
}

/// Replicas a Deployment runs with at least: its own count, or its autoscaler's minimum.
fn least_replicas(manifests: &Manifests, name: &str) -> Option<i32> {
    let autoscaler = manifests
        .autoscalers
        .iter()
        .find(|hpa| hpa.spec.scale_target_ref.name == name);
    match autoscaler {
        Some(hpa) => Some(hpa.spec.min_replicas.unwrap_or(1)),
        None => Some(manifests.deployment(name)?.spec.replicas.unwrap_or(1)),
    }
}

fn check_disruption_budgets(manifests: &Manifests, problems: &mut Vec<String>) {
    for target in Target::all() {
        let name = target.object_name();
        let (Some(budget), Some(deployment)) =
            (find(&manifests.disruption_budgets, &name), manifests.deployment(&name))
        else {
            continue;
        };
        let Some(spec) = &budget.spec else {
            problems.push(format!("PodDisruptionBudget {name} has no spec"));
            continue;
        };
        let selector = spec.selector.clone().unwrap_or_default();
        if selector.match_labels.is_none() && selector.match_expressions.is_none() {
            problems.push(format!("PodDisruptionBudget {name} selects every pod"));
        }
        if !selects(&selector, &pod_labels(deployment)) {
            problems.push(format!(
                "PodDisruptionBudget {name} does not select the pods of Deployment {name}"
            ));
        }
        for other in manifests
            .deployments
            .iter()
            .filter(|d| d.metadata.name.as_deref() != Some(&name))
        {
            if selects(&selector, &pod_labels(other)) {
                problems.push(format!(
                    "PodDisruptionBudget {name} also selects the pods of {}",
                    other.metadata.name.as_deref().unwrap_or_default()
                ));
            }
        }
        let replicas = least_replicas(manifests, &name).unwrap_or(1);
        let drains = match (&spec.max_unavailable, &spec.min_available) {
            (Some(IntOrString::Int(max)), None) => *max >= 1,
            (None, Some(IntOrString::Int(min))) => *min < replicas,
            (Some(IntOrString::String(percent)), None) => percent != "0%",
            _ => false,
        };
        if !drains {
            problems.push(format!(
                "PodDisruptionBudget {name} never allows an eviction at {replicas} replica(s): node drains would stall"
            ));
        }
    }
}

fn check_services(manifests: &Manifests, problems: &mut Vec<String>) {
    for target in Target::all() {
        let name = target.object_name();
        let (Some(service), Some(deployment)) = (manifests.service(&name), manifests.deployment(&name)) else {
            continue;
        };
        let spec = service.spec.clone().unwrap_or_default();
        let selector: BTreeMap<String, String> = spec.selector.unwrap_or_default();
        let selects_pods =
            |labels: &Labels| !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v));
        if !selects_pods(&pod_labels(deployment)) {
            problems.push(format!("Service {name} does not select the pods of Deployment {name}"));
        }
        for other in manifests
            .deployments
            .iter()
            .filter(|d| d.metadata.name.as_deref() != Some(&name))
        {
            if selects_pods(&pod_labels(other)) {
                problems.push(format!(
                    "Service {name} also selects the pods of {:?}",
                    other.metadata.name
                ));
            }
        }
        let Some(container) = main_container(deployment) else {
            continue;
        };
        for port in spec.ports.iter().flatten() {
            let resolved = match &port.target_port {
                Some(IntOrString::String(port_name)) => container_port(container, port_name),
                Some(IntOrString::Int(number)) => Some(*number),
                None => Some(port.port),
            };
            let exists = resolved.is_some_and(|n| container.ports.iter().flatten().any(|p| p.container_port == n));
            if !exists {
                problems.push(format!("Service {name}: port {} reaches no container port", port.port));
            }
        }
    }
}

fn check_autoscalers(manifests: &Manifests, problems: &mut Vec<String>) {
    for hpa in &manifests.autoscalers {
        let name = hpa.metadata.name.clone().unwrap_or_default();
        let spec = &hpa.spec;
        let reference = &spec.scale_target_ref;
        if reference.kind != "Deployment" || manifests.deployment(&reference.name).is_none() {
            problems.push(format!(
                "HorizontalPodAutoscaler {name} scales no Deployment of this overlay"
            ));
        }
        let min = spec.min_replicas.unwrap_or(1);
        if min < 1 || min > spec.max_replicas {
            problems.push(format!(
                "HorizontalPodAutoscaler {name}: minReplicas {min} must be 1..=maxReplicas"
            ));
        }
    }
    for target in Target::all() {
        let name = target.object_name();
        let Some(deployment) = manifests.deployment(&name) else {
            continue;
        };
        let scaled_by = manifests
            .autoscalers
            .iter()
            .filter(|hpa| hpa.spec.scale_target_ref.name == name)
            .count();
        let replicas = deployment.spec.replicas;
        match (target.autoscaled(), scaled_by, replicas) {
            (true, 1, None) => {}
            (true, 1, Some(_)) => problems.push(format!(
                "Deployment {name} sets replicas, which every apply would reset under its HorizontalPodAutoscaler"
            )),
            (true, _, _) => problems.push(format!("Deployment {name} needs exactly one HorizontalPodAutoscaler")),
            (false, 0, Some(count)) if count >= 1 => {}
            (false, _, _) => problems.push(format!(
                "Deployment {name} needs a fixed replica count and no autoscaler"
            )),
        }
    }
}

/// A lost node or a rollout never takes a service's last ready pod: replicas spread across
/// nodes, and a rollout adds a pod before it removes one.
fn check_node_loss(manifests: &Manifests, problems: &mut Vec<String>) {
    for deployment in &manifests.deployments {
        let name = deployment.metadata.name.clone().unwrap_or_default();
        let labels = pod_labels(deployment);
        let spread = pod_spec(deployment)
            .and_then(|spec| spec.topology_spread_constraints.as_ref())
            .into_iter()
            .flatten()
            .any(|constraint| {
                constraint.topology_key == "kubernetes.io/hostname"
                    && constraint.label_selector.as_ref().is_some_and(|s| selects(s, &labels))
            });
        if !spread {
            problems.push(format!(
                "{name}: pods must spread across nodes (topologyKey kubernetes.io/hostname)"
            ));
        }
        let rolling = deployment
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.rolling_update.as_ref());
        if rolling.and_then(|r| r.max_unavailable.clone()) != Some(IntOrString::Int(0)) {
            problems.push(format!(
                "{name}: a rollout must not take a pod away before its replacement is ready"
            ));
        }
    }
}
