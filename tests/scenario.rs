//! Keel's whole delivery scenario as one end-to-end test, through the real binary and only
//! its public gRPC APIs: a won deal becomes a project with its ERP code, budget and billing
//! milestones, a workspace and a retained SOW; a person is staffed with leadership's approval;
//! their time is validated, approved and posted to ERP; the overrun raises a health alert to
//! the project manager and finance; a change order moves every system; and a reached,
//! accepted milestone becomes a draft invoice for its amount.

mod common;

use common::Keel;

#[tokio::test]
async fn a_won_deal_is_delivered_staffed_posted_changed_and_invoiced() {
    let keel = Keel::start().await;
    common::scenario::deliver(&keel).await;
}
