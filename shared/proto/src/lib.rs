//! Keel's gRPC contracts, generated from `proto/keel/<area>/v1`.
//!
//! Each package is a module named after it (`keel::crm::v1`). `FILE_DESCRIPTOR_SET` feeds
//! server reflection.

#![allow(clippy::all, missing_docs)] // generated code

/// The encoded descriptors of every Keel contract, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("keel_descriptor");

pub mod keel {
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("keel.common.v1");
        }
    }
    pub mod crm {
        pub mod v1 {
            tonic::include_proto!("keel.crm.v1");
        }
    }
    pub mod psa {
        pub mod v1 {
            tonic::include_proto!("keel.psa.v1");
        }
    }
    pub mod erp {
        pub mod v1 {
            tonic::include_proto!("keel.erp.v1");
        }
    }
    pub mod hris {
        pub mod v1 {
            tonic::include_proto!("keel.hris.v1");
        }
    }
    pub mod documents {
        pub mod v1 {
            tonic::include_proto!("keel.documents.v1");
        }
    }
    pub mod collaboration {
        pub mod v1 {
            tonic::include_proto!("keel.collaboration.v1");
        }
    }
    pub mod support {
        pub mod v1 {
            tonic::include_proto!("keel.support.v1");
        }
    }
    pub mod projectsetup {
        pub mod v1 {
            tonic::include_proto!("keel.projectsetup.v1");
        }
    }
    pub mod events {
        pub mod v1 {
            tonic::include_proto!("keel.events.v1");
        }
    }
    pub mod staffing {
        pub mod v1 {
            tonic::include_proto!("keel.staffing.v1");
        }
    }
    pub mod timecapture {
        pub mod v1 {
            tonic::include_proto!("keel.timecapture.v1");
        }
    }
    pub mod billing {
        pub mod v1 {
            tonic::include_proto!("keel.billing.v1");
        }
    }
    pub mod health {
        pub mod v1 {
            tonic::include_proto!("keel.health.v1");
        }
    }
    pub mod changeorders {
        pub mod v1 {
            tonic::include_proto!("keel.changeorders.v1");
        }
    }
    pub mod closeout {
        pub mod v1 {
            tonic::include_proto!("keel.closeout.v1");
        }
    }
    pub mod workflow {
        pub mod v1 {
            tonic::include_proto!("keel.workflow.v1");
        }
    }
}

pub use keel::{
    billing::v1 as billing, changeorders::v1 as changeorders, closeout::v1 as closeout,
    collaboration::v1 as collaboration, common::v1 as common, crm::v1 as crm, documents::v1 as documents,
    erp::v1 as erp, events::v1 as events, health::v1 as health, hris::v1 as hris, projectsetup::v1 as projectsetup,
    psa::v1 as psa, staffing::v1 as staffing, support::v1 as support, timecapture::v1 as timecapture,
    workflow::v1 as workflow,
};
