//! Rendered objects as their Kubernetes API types (k8s-openapi). k8s-openapi ignores fields it
//! does not know, so each object is also serialized back and compared with what was rendered:
//! a misspelt or misplaced field (`livenesProbe`, `resources` under the pod) shows up as a
//! difference at its path.

use anyhow::{anyhow, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::serde::Serialize;
use k8s_openapi::serde::de::DeserializeOwned;
use k8s_openapi::{Metadata, Resource};
use serde_json::Value;

use crate::render::{kind, name};

/// One overlay's objects, by type.
#[derive(Debug, Default)]
pub struct Manifests {
    pub namespaces: Vec<Namespace>,
    pub config_maps: Vec<ConfigMap>,
    pub secrets: Vec<Secret>,
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    pub deployments: Vec<Deployment>,
    pub disruption_budgets: Vec<PodDisruptionBudget>,
    pub autoscalers: Vec<HorizontalPodAutoscaler>,
    pub network_policies: Vec<NetworkPolicy>,
}

impl Manifests {
    /// Every object as its API type; the first that is not one (unknown kind, wrong
    /// `apiVersion`, a field the type does not have, a value of the wrong type) is an error.
    pub fn from_objects(objects: &[Value]) -> anyhow::Result<Manifests> {
        let mut manifests = Manifests::default();
        for object in objects {
            match kind(object) {
                "Namespace" => manifests.namespaces.push(typed(object)?),
                "ConfigMap" => manifests.config_maps.push(typed(object)?),
                "Secret" => manifests.secrets.push(typed(object)?),
                "Service" => manifests.services.push(typed(object)?),
                "EndpointSlice" => manifests.endpoint_slices.push(typed(object)?),
                "Deployment" => manifests.deployments.push(typed(object)?),
                "PodDisruptionBudget" => manifests.disruption_budgets.push(typed(object)?),
                "HorizontalPodAutoscaler" => manifests.autoscalers.push(typed(object)?),
                "NetworkPolicy" => manifests.network_policies.push(typed(object)?),
                other => bail!("{other} {}: a kind Keel's manifests do not use", name(object)),
            }
        }
        Ok(manifests)
    }

    pub fn deployment(&self, wanted: &str) -> Option<&Deployment> {
        find(&self.deployments, wanted)
    }

    pub fn service(&self, wanted: &str) -> Option<&Service> {
        find(&self.services, wanted)
    }

    pub fn config_map(&self, wanted: &str) -> Option<&ConfigMap> {
        find(&self.config_maps, wanted)
    }

    pub fn secret(&self, wanted: &str) -> Option<&Secret> {
        find(&self.secrets, wanted)
    }
}

/// The object named `wanted` among `objects`.
pub fn find<'a, T: Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>>(
    objects: &'a [T],
    wanted: &str,
) -> Option<&'a T> {
    objects
        .iter()
        .find(|object| object.metadata().name.as_deref() == Some(wanted))
}

fn typed<T: Resource + DeserializeOwned + Serialize>(object: &Value) -> anyhow::Result<T> {
    let label = format!("{} {}", kind(object), name(object));
    if object["apiVersion"] != T::API_VERSION {
        bail!("{label}: apiVersion {} is not {}", object["apiVersion"], T::API_VERSION);
    }
    let parsed: T = serde_json::from_value(object.clone()).map_err(|e| anyhow!("{label}: {e}"))?;
    let back = serde_json::to_value(&parsed)?;
    if let Some((path, rendered, understood)) = first_difference(object, &back, String::new()) {
        bail!("{label}: at {path} the manifest has {rendered} but the API type reads {understood} (unknown field?)");
    }
    Ok(parsed)
}

/// The first path where `left` and `right` differ, with both values there (`absent` for none).
pub fn first_difference(left: &Value, right: &Value, path: String) -> Option<(String, String, String)> {
    match (left, right) {
        (Value::Object(l), Value::Object(r)) => {
            let keys: std::collections::BTreeSet<&String> = l.keys().chain(r.keys()).collect();
            keys.into_iter().find_map(|key| {
                let here = format!("{path}.{key}");
                match (l.get(key), r.get(key)) {
                    (Some(a), Some(b)) => first_difference(a, b, here),
                    (a, b) => Some((here, shown(a), shown(b))),
                }
            })
        }
        (Value::Array(l), Value::Array(r)) if l.len() == r.len() => l
            .iter()
            .zip(r)
            .enumerate()
            .find_map(|(index, (a, b))| first_difference(a, b, format!("{path}[{index}]"))),
        _ if left == right => None,
        _ => Some((path, left.to_string(), right.to_string())),
    }
}

fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "absent".to_owned(), Value::to_string)
}
