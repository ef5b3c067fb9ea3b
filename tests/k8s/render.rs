//! A small kustomize: renders a `kustomization.yaml` for the subset of kustomize Keel's
//! manifests use, so `cargo test` checks `k8s/` on a machine with Rust alone. Anything outside
//! that subset is refused with an error naming it, never silently ignored; where `kubectl` is
//! installed, tests/k8s.rs also compares this rendering with `kubectl kustomize`.
//!
//! Supported: `resources` (files, and directories holding a kustomization), `namespace`,
//! `labels` (metadata only), `images`, `replicas`, `configMapGenerator` and `secretGenerator`
//! (`files`, `literals`, `behavior`) with `generatorOptions.disableNameSuffixHash: true`, and
//! strategic-merge `patches` by path (maps merged, `null` deletes, containers, init containers,
//! env, volumes and volume mounts merged by their key). Transformers run in kustomize's order:
//! generators, patches, namespace, labels, replicas, images.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, anyhow, bail, ensure};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The parts of a kustomization this renderer understands; any other field is an error.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Kustomization {
    #[serde(default)]
    #[allow(dead_code)] // read to accept the field; kustomize ignores it too
    api_version: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    kind: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: Vec<Labels>,
    #[serde(default)]
    images: Vec<Image>,
    #[serde(default)]
    replicas: Vec<Replicas>,
    #[serde(default)]
    patches: Vec<Patch>,
    #[serde(default)]
    generator_options: Option<GeneratorOptions>,
    #[serde(default)]
    config_map_generator: Vec<Generator>,
    #[serde(default)]
    secret_generator: Vec<Generator>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Labels {
    pairs: BTreeMap<String, String>,
    #[serde(default)]
    include_selectors: bool,
    #[serde(default)]
    include_templates: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Image {
    name: String,
    #[serde(default)]
    new_name: Option<String>,
    #[serde(default)]
    new_tag: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Replicas {
    name: String,
    count: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    path: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GeneratorOptions {
    #[serde(default)]
    disable_name_suffix_hash: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Generator {
    name: String,
    #[serde(default)]
    behavior: Option<String>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    literals: Vec<String>,
}

/// Kinds that live outside namespaces: the namespace transformer leaves them alone.
const CLUSTER_SCOPED: [&str; 4] = [
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
];
/// Kinds whose `spec.replicas` the replicas transformer sets.
const SCALABLE: [&str; 3] = ["Deployment", "StatefulSet", "ReplicaSet"];

/// Renders the kustomization in `dir` into its objects, in no particular order.
pub fn render(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let file = dir.join("kustomization.yaml");
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let kustomization: Kustomization = serde_saphyr::from_str(&text)
        .with_context(|| format!("{}: not a kustomization this renderer supports", file.display()))?;
    let mut objects = Vec::new();
    for resource in &kustomization.resources {
        let path = dir.join(resource);
        if path.is_dir() {
            objects.extend(render(&path)?);
        } else {
            objects.extend(read_documents(&path)?);
        }
    }
    generate(dir, &kustomization, &mut objects)?;
    for patch in &kustomization.patches {
        for document in read_documents(&dir.join(&patch.path))? {
            apply_patch(&mut objects, &document).with_context(|| format!("patch {}", patch.path))?;
        }
    }
    if let Some(namespace) = &kustomization.namespace {
        for object in objects.iter_mut().filter(|o| !CLUSTER_SCOPED.contains(&kind(o))) {
            metadata(object)?.insert("namespace".into(), Value::String(namespace.clone()));
        }
    }
    for labels in &kustomization.labels {
        ensure!(
            !labels.include_selectors && !labels.include_templates,
            "labels with includeSelectors or includeTemplates are not supported"
        );
        for object in &mut objects {
            let metadata = metadata(object)?;
            let existing = metadata.entry("labels").or_insert_with(|| Value::Object(Map::new()));
            let existing = existing
                .as_object_mut()
                .ok_or_else(|| anyhow!("metadata.labels is not a map"))?;
            for (key, value) in &labels.pairs {
                existing.insert(key.clone(), Value::String(value.clone()));
            }
        }
    }
    for replicas in &kustomization.replicas {
        let mut found = false;
        for object in objects
            .iter_mut()
            .filter(|o| SCALABLE.contains(&kind(o)) && name(o) == replicas.name)
        {
            object["spec"]["replicas"] = Value::from(replicas.count);
            found = true;
        }
        ensure!(found, "replicas: no Deployment named {}", replicas.name);
    }
    for image in &kustomization.images {
        for object in &mut objects {
            set_images(object, image);
        }
    }
    Ok(objects)
}

/// Every YAML document in a file, as JSON values.
pub fn read_documents(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_documents(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Every YAML document in `text`, as JSON values (empty documents are skipped).
pub fn parse_documents(text: &str) -> anyhow::Result<Vec<Value>> {
    Ok(serde_saphyr::from_multiple::<Value>(text)?
        .into_iter()
        .filter(|document| !document.is_null())
        .collect())
}

/// The object's `kind`.
pub fn kind(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

/// The object's `metadata.name`.
pub fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

fn metadata(object: &mut Value) -> anyhow::Result<&mut Map<String, Value>> {
    let label = format!("{} {}", kind(object), name(object));
    object["metadata"]
        .as_object_mut()
        .ok_or_else(|| anyhow!("{label}: no metadata"))
}

fn generate(dir: &Path, kustomization: &Kustomization, objects: &mut Vec<Value>) -> anyhow::Result<()> {
    let generators = kustomization
        .config_map_generator
        .iter()
        .map(|g| ("ConfigMap", g))
        .chain(kustomization.secret_generator.iter().map(|g| ("Secret", g)));
    for (generated_kind, generator) in generators {
        ensure!(
            kustomization
                .generator_options
                .as_ref()
                .is_some_and(|options| options.disable_name_suffix_hash),
            "{}: generators need generatorOptions.disableNameSuffixHash: true (name hashes are not rendered)",
            generator.name
        );
        let mut data = Map::new();
        for file in &generator.files {
            let (key, path) = file.split_once('=').unwrap_or((file.as_str(), file.as_str()));
            let key = Path::new(key).file_name().and_then(|n| n.to_str()).unwrap_or(key);
            let text = std::fs::read_to_string(dir.join(path)).with_context(|| format!("reading {path}"))?;
            data.insert(key.to_owned(), encode(generated_kind, &text));
        }
        for literal in &generator.literals {
            let (key, value) = literal
                .split_once('=')
                .ok_or_else(|| anyhow!("{}: literal without `=`: {literal}", generator.name))?;
            data.insert(key.to_owned(), encode(generated_kind, value));
        }
        let existing = objects
            .iter_mut()
            .find(|o| kind(o) == generated_kind && name(o) == generator.name);
        match (generator.behavior.as_deref().unwrap_or("create"), existing) {
            ("create", None) => {
                let mut object = serde_json::json!({
                    "apiVersion": "v1",
                    "kind": generated_kind,
                    "metadata": { "name": generator.name },
                    "data": data,
                });
                if generated_kind == "Secret" {
                    object["type"] = Value::from("Opaque");
                }
                objects.push(object);
            }
            ("replace", Some(object)) => object["data"] = Value::Object(data),
            ("merge", Some(object)) => {
                let merged = object["data"]
                    .as_object_mut()
                    .ok_or_else(|| anyhow!("{}: no data to merge into", generator.name))?;
                merged.extend(data);
            }
            (behavior, existing) => bail!(
                "{generated_kind} {}: behavior {behavior} with {} existing object",
                generator.name,
                if existing.is_some() { "an" } else { "no" }
            ),
        }
    }
    Ok(())
}

/// A ConfigMap keeps text as is; a Secret's data is base64.
fn encode(generated_kind: &str, text: &str) -> Value {
    match generated_kind {
        "Secret" => Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
        _ => Value::String(text.to_owned()),
    }
}

/// Applies one strategic-merge patch document to the object of the same kind and name.
fn apply_patch(objects: &mut [Value], patch: &Value) -> anyhow::Result<()> {
    let target = objects
        .iter_mut()
        .find(|o| kind(o) == kind(patch) && name(o) == name(patch))
        .ok_or_else(|| anyhow!("no {} named {} to patch", kind(patch), name(patch)))?;
    strategic_merge(target, patch)
}

/// The key list items are merged by, for the lists Keel's patches touch.
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers" | "initContainers" | "env" | "volumes" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        _ => None,
    }
}

/// Merges a strategic-merge `patch` into `target`.
pub fn strategic_merge(target: &mut Value, patch: &Value) -> anyhow::Result<()> {
    let (Some(target), Some(patch)) = (target.as_object_mut(), patch.as_object()) else {
        *target = patch.clone();
        return Ok(());
    };
    for (field, value) in patch {
        ensure!(!field.starts_with('$'), "patch directive {field} is not supported");
        if value.is_null() {
            target.remove(field);
            continue;
        }
        match (target.get_mut(field), merge_key(field)) {
            (Some(Value::Array(items)), Some(key)) => {
                let patch_items = value
                    .as_array()
                    .ok_or_else(|| anyhow!("{field} in a patch is not a list"))?;
                for patch_item in patch_items {
                    let id = &patch_item[key];
                    ensure!(!id.is_null(), "an item of {field} in a patch has no {key}");
                    match items.iter_mut().find(|item| &item[key] == id) {
                        Some(item) => strategic_merge(item, patch_item)?,
                        None => items.push(patch_item.clone()),
                    }
                }
            }
            (Some(existing), _) if existing.is_object() && value.is_object() => strategic_merge(existing, value)?,
            _ => {
                target.insert(field.clone(), value.clone());
            }
        }
    }
    Ok(())
}

/// Sets the image of every container and init container whose image name is `image.name`.
fn set_images(object: &mut Value, image: &Image) {
    for list in ["containers", "initContainers"] {
        // `pointer_mut`, not indexing: indexing a missing key would insert it.
        let Some(containers) = object
            .pointer_mut(&format!("/spec/template/spec/{list}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for container in containers {
            let Some(current) = container["image"].as_str() else {
                continue;
            };
            let (current_name, current_tag) = split_image(current);
            if current_name != image.name {
                continue;
            }
            let new_name = image.new_name.as_deref().unwrap_or(current_name);
            let updated = match image.new_tag.as_deref().or(current_tag) {
                Some(tag) => format!("{new_name}:{tag}"),
                None => new_name.to_owned(),
            };
            container["image"] = Value::String(updated);
        }
    }
}

/// `registry:5000/keel:1.2` → (`registry:5000/keel`, `Some("1.2")`).
pub fn split_image(image: &str) -> (&str, Option<&str>) {
    let last_segment = image.rfind('/').map_or(0, |slash| slash + 1);
    match image[last_segment..].rfind(':') {
        Some(colon) => (&image[..last_segment + colon], Some(&image[last_segment + colon + 1..])),
        None => (image, None),
    }
}
