//! The one integration-test binary; every test module is listed here.

mod common;

mod test_ancestry;
mod test_attempts;
mod test_backends;
mod test_batch;
mod test_clean;
mod test_cli;
mod test_concurrency;
mod test_demo;
mod test_docs;
mod test_doctor;
mod test_fairness;
mod test_faults;
mod test_fresh;
mod test_fuzz;
mod test_hangs;
mod test_hook;
mod test_hostile;
mod test_import;
mod test_init;
mod test_integrity;
mod test_liveness;
mod test_log;
mod test_merge;
mod test_orphans;
mod test_plan;
mod test_plan_edges;
mod test_plan_fixtures;
mod test_protocol;
mod test_real_agents;
mod test_record;
mod test_ref_guard;
mod test_remote;
mod test_spawn;
mod test_tidy;
