//! Generates the gRPC contracts from `proto/keel/**` with the vendored protoc, so a fresh
//! machine needs no system packages.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let protos: Vec<PathBuf> = [
        "keel/common/v1/common.proto",
        "keel/crm/v1/crm.proto",
        "keel/psa/v1/psa.proto",
        "keel/erp/v1/erp.proto",
        "keel/hris/v1/hris.proto",
        "keel/documents/v1/documents.proto",
        "keel/collaboration/v1/collaboration.proto",
        "keel/support/v1/support.proto",
        "keel/projectsetup/v1/project_setup.proto",
        "keel/timecapture/v1/time_capture.proto",
        "keel/staffing/v1/staffing.proto",
        "keel/billing/v1/billing.proto",
        "keel/health/v1/delivery_health.proto",
        "keel/changeorders/v1/change_orders.proto",
        "keel/closeout/v1/close_out.proto",
        "keel/events/v1/events.proto",
        "keel/workflow/v1/workflow.proto",
    ]
    .iter()
    .map(|p| root.join(p))
    .collect();
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }

    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Test doubles of a service implement only the RPCs they are called with; the rest answer
    // UNIMPLEMENTED. Keel's own services implement every RPC (the conformance kits call them).
    tonic_prost_build::configure()
        .generate_default_stubs(true)
        .file_descriptor_set_path(out_dir.join("keel_descriptor.bin"))
        .compile_with_config(config, &protos, &[root])?;
    Ok(())
}
