//! How the targets find their configuration and each other: each pod's `keel.toml` and
//! environment load with Keel's own configuration loader and name the ports, Services and
//! addresses the manifests declare; and the NetworkPolicies let exactly the layer direction
//! through (experience → process → system, the gateway also reading PSA and ERP, the
//! close-out reading the exception history, and delivery health the waiting approvals, of the
//! process APIs it calls), plus
//! PostgreSQL and NATS for the services that keep a store.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Container;
use keel_config::{AuthMode, KeelConfig, Overrides};

use crate::checks::{container_port, main_container, pod_labels, pod_spec};
use crate::netpol::{self, Labels, Peer, Port};
use crate::targets::Target;
use crate::typed::{Manifests, find};

/// Loads the configuration a container of `deployment` starts with: the `--config` file from
/// its mounted ConfigMap, and its environment (literal values and `envFrom` Secrets).
pub fn load_config(
    manifests: &Manifests,
    deployment: &Deployment,
    container: &Container,
) -> Result<KeelConfig, String> {
    let args = container.args.clone().unwrap_or_default();
    let path = args
        .windows(2)
        .find(|pair| pair[0] == "--config")
        .map(|pair| pair[1].clone())
        .ok_or("no --config argument")?;
    let (directory, file) = path.rsplit_once('/').ok_or("--config is not an absolute path")?;
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == directory)
        .ok_or_else(|| format!("nothing is mounted at {directory}"))?;
    let volume = pod_spec(deployment)
        .and_then(|spec| spec.volumes.as_ref())
        .into_iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .ok_or_else(|| format!("no volume {}", mount.name))?;
    let config_map = volume
        .config_map
        .as_ref()
        .ok_or_else(|| format!("volume {} is not a ConfigMap", mount.name))?;
    let text = manifests
        .config_map(&config_map.name)
        .and_then(|c| c.data.as_ref()?.get(file).cloned())
        .ok_or_else(|| format!("ConfigMap {} has no {file}", config_map.name))?;
    let mut env = HashMap::new();
    for variable in container.env.iter().flatten() {
        env.insert(variable.name.clone(), variable.value.clone().unwrap_or_default());
    }
    for source in container.env_from.iter().flatten() {
        let Some(reference) = &source.secret_ref else {
            return Err("envFrom other than a Secret".into());
        };
        // An overlay that renders no Secret leaves them to the firm's secret store.
        if manifests.secrets.is_empty() {
            continue;
        }
        let secret = manifests
            .secret(&reference.name)
            .ok_or_else(|| format!("Secret {} is not rendered", reference.name))?;
        for (key, value) in secret.data.iter().flatten() {
            let value = String::from_utf8(value.0.clone())
                .map_err(|_| format!("Secret {} {key} is not text", reference.name))?;
            env.insert(key.clone(), value);
        }
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file_path = dir.path().join(file);
    std::fs::write(&file_path, text).map_err(|e| e.to_string())?;
    KeelConfig::load(Some(Path::new(&file_path)), &env, &Overrides::new()).map_err(|e| e.to_string())
}

/// `scheme://[user@]host:port[/path]` → (`host`, `port`).
fn host_and_port(url: &str) -> Option<(&str, i32)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let (host, port) = authority.rsplit_once(':')?;
    Some((host, port.parse().ok()?))
}

/// Whether `url` reaches `wanted` (a Deployment's pods, or an external Service) through a
/// Service of this overlay.
fn reaches(manifests: &Manifests, url: &str, wanted: Option<&Deployment>) -> bool {
    let Some((host, port)) = host_and_port(url) else {
        return false;
    };
    let Some(service) = manifests.service(host) else {
        return false;
    };
    let spec = service.spec.clone().unwrap_or_default();
    let port_ok = spec.ports.iter().flatten().any(|p| p.port == port);
    let selector = spec.selector.unwrap_or_default();
    let pods_ok = match wanted {
        Some(deployment) => {
            let labels = pod_labels(deployment);
            !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        }
        None => selector.is_empty(),
    };
    port_ok && pods_ok
}

pub fn check_configuration(manifests: &Manifests, problems: &mut Vec<String>) {
    for target in Target::all() {
        let name = target.object_name();
        let Some(deployment) = manifests.deployment(&name) else {
            continue;
        };
        let Some(keel) = main_container(deployment) else {
            continue;
        };
        let config = match load_config(manifests, deployment, keel) {
            Ok(config) => config,
            Err(error) => {
                problems.push(format!("{name}: its configuration does not load: {error}"));
                continue;
            }
        };
        let mut wrong = |what: String| problems.push(format!("{name}: {what}"));
        match target {
            Target::Gateway if Some(i32::from(config.server.http_addr.port())) != container_port(keel, "http") => {
                wrong("server.http_addr is not the http container port".into());
            }
            Target::Service(_) if Some(i32::from(config.server.grpc_addr.port())) != container_port(keel, "grpc") => {
                wrong("server.grpc_addr is not the grpc container port".into());
            }
            _ => {}
        }
        let grace = pod_spec(deployment)
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30);
        if grace <= i64::try_from(config.server.shutdown_grace_seconds).unwrap_or(i64::MAX) {
            wrong(format!(
                "terminationGracePeriodSeconds {grace} must exceed server.shutdown_grace_seconds {}",
                config.server.shutdown_grace_seconds
            ));
        }
        let data_dir = config.server.data_dir.display().to_string();
        let writable = keel
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.mount_path == data_dir && m.read_only != Some(true));
        if !writable {
            wrong(format!(
                "server.data_dir {data_dir} is not a writable volume (the root filesystem is read-only)"
            ));
        }
        if config.auth.mode == AuthMode::Local && config.auth.local_key.is_none() {
            wrong("local auth without auth.local_key: each pod would sign with its own key".into());
        }
        for callee in target.calls() {
            let callee_deployment = manifests.deployment(&Target::Service(*callee).object_name());
            match config.configured_endpoint(*callee) {
                Some(url) if callee_deployment.is_some() && reaches(manifests, url, callee_deployment) => {}
                other => wrong(format!(
                    "services.{} ({other:?}) does not reach keel-{callee}",
                    callee.config_key()
                )),
            }
        }
        let nats = config.events.nats_url.as_deref();
        match target {
            Target::Gateway if nats.is_some() => {
                wrong("the gateway needs no NATS, and connects to it when given one".into())
            }
            Target::Service(_) if !nats.is_some_and(|url| reaches(manifests, url, None)) => {
                wrong(format!("events.nats_url {nats:?} must name the nats Service"));
            }
            _ => {}
        }
        let database = config.database.url.as_ref().map(|url| url.expose().clone());
        match (target, &database) {
            (Target::Gateway, Some(_)) => {
                wrong("the gateway keeps no store and must not get database credentials".into())
            }
            (Target::Service(_), Some(url)) if !reaches(manifests, url, None) => {
                wrong("database.url must name the postgres Service".into());
            }
            (Target::Service(_), None) if !manifests.secrets.is_empty() => wrong("database.url is not set".into()),
            _ => {}
        }
        let inits = pod_spec(deployment)
            .and_then(|s| s.init_containers.as_ref())
            .into_iter()
            .flatten();
        for init in inits {
            match load_config(manifests, deployment, init) {
                Ok(init_config) if init_config.database.url.as_ref().map(|u| u.expose().clone()) == database => {}
                Ok(_) => wrong(format!("init container {} migrates another database", init.name)),
                Err(error) => wrong(format!(
                    "init container {}: its configuration does not load: {error}",
                    init.name
                )),
            }
        }
    }
}

/// The address and port of an external dependency (`postgres`, `nats`) from its EndpointSlice.
fn external_address(manifests: &Manifests, service: &str) -> Option<(Ipv4Addr, i32)> {
    let slice = manifests.endpoint_slices.iter().find(|slice| {
        slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"))
            .map(String::as_str)
            == Some(service)
    })?;
    let address = slice.endpoints.as_ref()?.first()?.addresses.first()?.parse().ok()?;
    let port = slice.ports.as_ref()?.first()?.port?;
    Some((address, port))
}

pub fn check_network(manifests: &Manifests, problems: &mut Vec<String>) {
    let policies = &manifests.network_policies;
    let pods: Vec<(Target, Peer, Port)> = Target::all()
        .into_iter()
        .filter_map(|target| {
            let deployment = manifests.deployment(&target.object_name())?;
            let keel = main_container(deployment)?;
            let port = container_port(keel, "grpc").or_else(|| container_port(keel, "http"))?;
            let namespace = deployment.metadata.namespace.clone().unwrap_or_default();
            let pod = Peer::Pod {
                namespace,
                labels: pod_labels(deployment),
            };
            Some((target, pod, Port::tcp(port)))
        })
        .collect();
    // Down the layers only; from the gateway to a system API only where it reads one; and
    // sideways only where a process API reads another's workflow admin (the close-out, and
    // delivery health's approval feed).
    let expected = |source: Target, destination: Target| match (source.layer(), destination.layer()) {
        ("experience", "process") | ("process", "system") => true,
        ("experience", "system") | ("process", "process") => match destination {
            Target::Service(service) => source.calls().contains(&service),
            Target::Gateway => false,
        },
        _ => false,
    };
    for (source, from, _) in &pods {
        for (destination, to, port) in &pods {
            let expected = expected(*source, *destination);
            if netpol::allowed(policies, from, to, *port) != expected {
                problems.push(format!(
                    "{} ({}) -> {} ({}) port {} is {}: calls go down the layers only, to what is called",
                    source.object_name(),
                    source.layer(),
                    destination.object_name(),
                    destination.layer(),
                    port.number,
                    if expected { "denied" } else { "allowed" },
                ));
            }
        }
        for callee in source.calls() {
            if let Some((_, to, port)) = pods.iter().find(|(t, _, _)| *t == Target::Service(*callee))
                && !netpol::allowed(policies, from, to, *port)
            {
                problems.push(format!(
                    "{} cannot reach keel-{callee}, which it calls",
                    source.object_name()
                ));
            }
        }
        let dns = Peer::Pod {
            namespace: "kube-system".into(),
            labels: Labels::from([("k8s-app".to_owned(), "kube-dns".to_owned())]),
        };
        if !netpol::allowed(policies, from, &dns, Port::udp(53)) {
            problems.push(format!(
                "{} cannot resolve names (DNS to kube-dns)",
                source.object_name()
            ));
        }
        let internet = Peer::Address(Ipv4Addr::new(198, 51, 100, 7));
        if netpol::allowed(policies, from, &internet, Port::tcp(443)) {
            problems.push(format!(
                "{} may reach any address on the internet",
                source.object_name()
            ));
        }
        for dependency in ["postgres", "nats"] {
            let Some((address, port)) = external_address(manifests, dependency) else {
                problems.push(format!("{dependency} has no EndpointSlice with an address and port"));
                continue;
            };
            let needed = *source != Target::Gateway;
            if netpol::allowed(policies, from, &Peer::Address(address), Port::tcp(port)) != needed {
                problems.push(format!(
                    "{} {} reach {dependency} at {address}:{port}",
                    source.object_name(),
                    if needed { "cannot" } else { "may" }
                ));
            }
        }
    }
    let outside = Peer::Pod {
        namespace: "ingress".into(),
        labels: Labels::from([("app.kubernetes.io/name".to_owned(), "ingress-controller".to_owned())]),
    };
    for (target, to, port) in &pods {
        let expected = *target == Target::Gateway;
        if netpol::allowed(policies, &outside, to, *port) != expected {
            problems.push(format!(
                "from outside the namespace, {} is {}",
                target.object_name(),
                if expected { "unreachable" } else { "reachable" }
            ));
        }
    }
    if find(&manifests.network_policies, "keel-default-deny").is_none() {
        problems.push("NetworkPolicy keel-default-deny is missing: what no policy names is open".into());
    }
}
