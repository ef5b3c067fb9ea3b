//! What a set of NetworkPolicies lets through, evaluated as Kubernetes does: a pod selected by
//! no policy of a direction is open in that direction; a selected pod admits what at least one
//! rule of one selecting policy allows. A connection needs the source's egress and the
//! destination's ingress.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub type Labels = BTreeMap<String, String>;

/// One rule of a policy: its peers (`from` or `to`) and its ports.
type Rule<'a> = (Option<&'a Vec<NetworkPolicyPeer>>, Option<&'a Vec<NetworkPolicyPort>>);

/// One end of a connection.
#[derive(Debug, Clone)]
pub enum Peer {
    /// A pod in a namespace, with its labels.
    Pod { namespace: String, labels: Labels },
    /// An address outside the cluster's pods.
    Address(Ipv4Addr),
}

/// A connection over TCP or UDP to a port.
#[derive(Debug, Clone, Copy)]
pub struct Port {
    pub number: i32,
    pub protocol: &'static str,
}

impl Port {
    pub fn tcp(number: i32) -> Port {
        Port {
            number,
            protocol: "TCP",
        }
    }

    pub fn udp(number: i32) -> Port {
        Port {
            number,
            protocol: "UDP",
        }
    }
}

/// Whether `from` may open a connection to `to` on `port` under `policies`.
pub fn allowed(policies: &[NetworkPolicy], from: &Peer, to: &Peer, port: Port) -> bool {
    let egress = match from {
        Peer::Pod { namespace, labels } => admits(policies, "Egress", namespace, labels, to, port),
        Peer::Address(_) => true,
    };
    let ingress = match to {
        Peer::Pod { namespace, labels } => admits(policies, "Ingress", namespace, labels, from, port),
        Peer::Address(_) => true,
    };
    egress && ingress
}

/// Whether the pod (`namespace`, `labels`) admits `other` on `port` in `direction`.
fn admits(
    policies: &[NetworkPolicy],
    direction: &str,
    namespace: &str,
    labels: &Labels,
    other: &Peer,
    port: Port,
) -> bool {
    let mut selected = false;
    for policy in policies {
        if policy.metadata.namespace.as_deref().unwrap_or_default() != namespace {
            continue;
        }
        let Some(spec) = &policy.spec else { continue };
        let empty = LabelSelector::default();
        if !selects(spec.pod_selector.as_ref().unwrap_or(&empty), labels) {
            continue;
        }
        let types = spec.policy_types.clone().unwrap_or_else(|| {
            let mut types = vec!["Ingress".to_owned()];
            if spec.egress.is_some() {
                types.push("Egress".to_owned());
            }
            types
        });
        if !types.iter().any(|t| t == direction) {
            continue;
        }
        selected = true;
        let rules: Vec<Rule> = if direction == "Ingress" {
            spec.ingress
                .iter()
                .flatten()
                .map(|r| (r.from.as_ref(), r.ports.as_ref()))
                .collect()
        } else {
            spec.egress
                .iter()
                .flatten()
                .map(|r| (r.to.as_ref(), r.ports.as_ref()))
                .collect()
        };
        for (peers, ports) in rules {
            let peer_ok = match peers {
                None => true,
                Some(peers) if peers.is_empty() => true,
                Some(peers) => peers.iter().any(|peer| peer_matches(peer, namespace, other)),
            };
            let port_ok = match ports {
                None => true,
                Some(ports) if ports.is_empty() => true,
                Some(ports) => ports.iter().any(|p| port_matches(p, port)),
            };
            if peer_ok && port_ok {
                return true;
            }
        }
    }
    !selected
}

fn peer_matches(peer: &NetworkPolicyPeer, policy_namespace: &str, other: &Peer) -> bool {
    if let Some(block) = &peer.ip_block {
        let Peer::Address(address) = other else {
            return false;
        };
        return in_cidr(&block.cidr, *address)
            && !block.except.iter().flatten().any(|except| in_cidr(except, *address));
    }
    let Peer::Pod { namespace, labels } = other else {
        return false;
    };
    let namespace_ok = match &peer.namespace_selector {
        None => namespace == policy_namespace,
        Some(selector) => selects(selector, &namespace_labels(namespace)),
    };
    let pod_ok = peer
        .pod_selector
        .as_ref()
        .is_none_or(|selector| selects(selector, labels));
    namespace_ok && pod_ok
}

/// The labels Kubernetes gives every namespace.
fn namespace_labels(namespace: &str) -> Labels {
    Labels::from([("kubernetes.io/metadata.name".to_owned(), namespace.to_owned())])
}

fn port_matches(rule: &NetworkPolicyPort, port: Port) -> bool {
    if rule.protocol.as_deref().unwrap_or("TCP") != port.protocol {
        return false;
    }
    match &rule.port {
        None => true,
        Some(IntOrString::Int(number)) => match rule.end_port {
            Some(end) => (*number..=end).contains(&port.number),
            None => *number == port.number,
        },
        // Named ports are not used by Keel's policies; a name never matches here.
        Some(IntOrString::String(_)) => false,
    }
}

/// Whether a label selector selects these labels (`In`, `NotIn`, `Exists`, `DoesNotExist`).
pub fn selects(selector: &LabelSelector, labels: &Labels) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let expressions_ok = selector.match_expressions.iter().flatten().all(|requirement| {
        let values = requirement.values.clone().unwrap_or_default();
        let value = labels.get(&requirement.key);
        match requirement.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

fn in_cidr(cidr: &str, address: Ipv4Addr) -> bool {
    let Some((network, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(network), Ok(bits)) = (network.parse::<Ipv4Addr>(), bits.parse::<u32>()) else {
        return false;
    };
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits.min(32)) };
    u32::from(network) & mask == u32::from(address) & mask
}
