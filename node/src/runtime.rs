//! Starting a node: config, identity, one glommio executor per shard, and shutdown.

use crate::config::{Config, ConfigError};
use crate::identity::{self, IdentityError};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("{0}")]
    Startup(String),
}

/// The one launcher: the binary, the demo and the tests all start nodes through it.
pub fn run_from_config(path: &Path) -> Result<(), RunError> {
    let config = Config::load(path)?;
    crate::logging::init(&config.logging);
    identity::check_or_create(
        &config.raft_dir(),
        &identity::Identity {
            node_id: config.id,
            cluster_id: config.cluster_id.clone(),
        },
    )?;
    Err(RunError::Startup(
        "the replica is not wired yet (waiting for reef-raftlog, reef-net, reef-engine)".into(),
    ))
}
