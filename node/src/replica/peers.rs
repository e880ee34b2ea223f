//! The peer address book: which node id answers at which Raft and HTTP address.
//!
//! Raft only knows ids. Addresses come from the config on first start, then from the conf
//! changes that add members (their addresses travel in the conf change's context), and are
//! persisted in the log's hard-state metadata under `peers` so a restart or a snapshot
//! install restores them with the membership they belong to.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerAddrs {
    pub raft_addr: SocketAddr,
    pub http_addr: SocketAddr,
}

/// Addresses by node id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressBook(pub BTreeMap<u64, PeerAddrs>);

pub const METADATA_KEY: &str = "peers";

#[derive(Debug, thiserror::Error)]
#[error("peer address book in the log metadata is unreadable: {0}")]
pub struct BookError(String);

impl AddressBook {
    pub fn from_config(peers: &[crate::config::PeerConfig]) -> AddressBook {
        AddressBook(
            peers
                .iter()
                .map(|p| {
                    (
                        p.id,
                        PeerAddrs {
                            raft_addr: p.raft_addr,
                            http_addr: p.http_addr,
                        },
                    )
                })
                .collect(),
        )
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&self.0).expect("address book always serialises")
    }

    pub fn decode(bytes: &[u8]) -> Result<AddressBook, BookError> {
        serde_json::from_slice(bytes)
            .map(AddressBook)
            .map_err(|e| BookError(e.to_string()))
    }

    pub fn get(&self, id: u64) -> Option<&PeerAddrs> {
        self.0.get(&id)
    }

    pub fn insert(&mut self, id: u64, addrs: PeerAddrs) {
        self.0.insert(id, addrs);
    }

    pub fn remove(&mut self, id: u64) {
        self.0.remove(&id);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u64, &PeerAddrs)> {
        self.0.iter()
    }
}

/// What a conf change that adds a node carries in its context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinContext {
    pub id: u64,
    pub raft_addr: SocketAddr,
    pub http_addr: SocketAddr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let mut b = AddressBook::default();
        b.insert(
            2,
            PeerAddrs {
                raft_addr: "127.0.0.1:4102".parse().unwrap(),
                http_addr: "127.0.0.1:4002".parse().unwrap(),
            },
        );
        assert_eq!(AddressBook::decode(&b.encode()).unwrap(), b);
        assert!(AddressBook::decode(b"{\"x\": 1}").is_err());
        assert!(AddressBook::decode(b"\xff").is_err());
    }
}
