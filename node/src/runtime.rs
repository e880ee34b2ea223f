//! Starting a node: config, identity, one glommio executor per shard, and shutdown.
//!
//! Shard 0 opens the replica first (log recovery, snapshot, transport); only once it is up do
//! the other shards start, so no HTTP request is ever served by a node that has not
//! recovered. Every shard then serves HTTP on the same address. The process ends when a
//! signal arrives (graceful: stop accepting, fail what is in flight, flush the log) or when
//! shard 0's driver stops on a fatal error, which brings the other shards down with it.

use crate::config::{Config, ConfigError};
use crate::http::api::{self, ShardCtx};
use crate::identity::{self, IdentityError};
use crate::replica::{self, driver::Event, Board, Request};
use crate::security::expiry::Expiry;
use crate::security::reload::{self, ReloadRequest};
use crate::security::{material, Security};
use crate::shutdown::{self, Stop, Trigger};
use futures::StreamExt;
use futures_channel::mpsc;
use glommio::{LocalExecutorBuilder, Placement};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("{0}")]
    Startup(String),
    #[error("{0}")]
    Fatal(String),
}

/// The one launcher: the binary, the demo and the tests all start nodes through it.
pub fn run_from_config(path: &Path) -> Result<(), RunError> {
    let config = Arc::new(Config::load(path)?);
    crate::logging::init(&config.logging);
    identity::check_or_create(
        &config.raft_dir(),
        &identity::Identity {
            node_id: config.id,
            cluster_id: config.cluster_id.clone(),
        },
    )?;
    let (trigger, stop) =
        shutdown::install().map_err(|e| RunError::Startup(format!("signal handlers: {e}")))?;
    run(config, trigger, stop)
}

/// Runs a node until `stop` fires. Exposed for embedding.
pub fn run(config: Arc<Config>, trigger: Trigger, stop: Stop) -> Result<(), RunError> {
    let shards = config.shard_count();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let placement = |shard: usize| {
        if config.pin_cores {
            Placement::Fixed(shard % cpus)
        } else {
            Placement::Unbound
        }
    };
    let board: Arc<Board> = crate::status::board(
        replica::initial_status(&config),
        reef_engine::Engine::new(crate::sql::apply_config()).view(),
    );
    let (req_tx, req_rx) = mpsc::channel::<Request>(4096);
    let metrics = crate::metrics::Metrics::new();
    let clocks = Arc::new(crate::replica::clocks::Clocks::default());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();

    // Certificates, keys and users: checked before anything starts, reloadable later.
    let mut loaded = material::load(&config).map_err(|e| RunError::Startup(e.to_string()))?;
    let expiry = loaded.expiry;
    let (security, reload_rx) = Security::new(&mut loaded, config.admin.token.clone());
    drop(loaded);
    let sighup = reload::install_sighup(security.reload_sender())
        .map_err(|e| RunError::Startup(format!("SIGHUP handler: {e}")))?;

    let shard0 = {
        let (config, board, req_tx, stop, trigger, metrics, clocks, security) = (
            config.clone(),
            board.clone(),
            req_tx.clone(),
            stop.clone(),
            trigger.clone(),
            metrics.clone(),
            clocks.clone(),
            security.clone(),
        );
        builder(placement(0), config.spin_before_park())
            .name("reef-shard-0")
            .spawn(move || async move {
                let shared = Shared {
                    metrics,
                    clocks,
                    security,
                    reloads: reload_rx,
                    expiry,
                };
                let result =
                    shard_zero(config, board, req_tx, req_rx, stop, shared, &ready_tx).await;
                // Whatever ended shard 0 ends the process.
                trigger.fire();
                result
            })
            .map_err(|e| RunError::Startup(format!("starting shard 0: {e}")))?
    };
    match ready_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = shard0.join();
            sighup.close();
            return Err(RunError::Startup(e));
        }
        Err(_) => {
            sighup.close();
            return Err(match shard0.join() {
                Ok(Err(e)) => e,
                _ => RunError::Startup("shard 0 ended during start-up".into()),
            });
        }
    }

    let mut others = Vec::new();
    for shard in 1..shards {
        let (config, board, req_tx, stop, metrics, clocks, security) = (
            config.clone(),
            board.clone(),
            req_tx.clone(),
            stop.clone(),
            metrics.clone(),
            clocks.clone(),
            security.clone(),
        );
        let handle = builder(placement(shard), config.spin_before_park())
            .name(&format!("reef-shard-{shard}"))
            .spawn(move || async move {
                let ctx = Rc::new(ShardCtx::new(
                    shard,
                    config.clone(),
                    board,
                    req_tx,
                    metrics,
                    clocks,
                    security,
                ));
                match crate::http::server::bind(config.http_addr) {
                    Ok(listener) => serve_http(listener, ctx, stop).await,
                    Err(e) => tracing::error!(shard, error = %e, "HTTP listener failed"),
                }
            })
            .map_err(|e| RunError::Startup(format!("starting shard {shard}: {e}")))?;
        others.push(handle);
    }
    drop(req_tx);

    let result = match shard0.join() {
        Ok(r) => r,
        Err(_) => Err(RunError::Fatal("shard 0 panicked".into())),
    };
    trigger.fire();
    for h in others {
        let _ = h.join();
    }
    sighup.close();
    tracing::info!("stopped");
    result
}

/// A shard's executor builder: its placement, and a spin before parking when configured.
fn builder(placement: Placement, spin: std::time::Duration) -> LocalExecutorBuilder {
    let b = LocalExecutorBuilder::new(placement);
    if spin.is_zero() {
        b
    } else {
        b.spin_before_park(spin)
    }
}

async fn serve_http(listener: glommio::net::TcpListener, ctx: Rc<ShardCtx>, stop: Stop) {
    let tls = ctx.security.http_tls.as_ref().map(|source| {
        Rc::new(crate::http::tls::ShardAcceptor::new(
            source.clone(),
            ctx.metrics.clone(),
        ))
    });
    let config_idle_ms = ctx.config.limits.idle_timeout_ms;
    let handler = Rc::new(move |req, _peer| {
        let ctx = ctx.clone();
        async move { api::serve_http(&ctx, req).await }
    });
    let idle = match config_idle_ms {
        0 => None,
        ms => Some(std::time::Duration::from_millis(ms)),
    };
    crate::http::server::serve(listener, tls, idle, handler, async {
        let _ = stop.await;
    })
    .await;
}

/// What shard 0 gets besides the config, the board and the request channel.
struct Shared {
    metrics: Arc<crate::metrics::Metrics>,
    clocks: Arc<crate::replica::clocks::Clocks>,
    security: Arc<Security>,
    reloads: mpsc::UnboundedReceiver<ReloadRequest>,
    expiry: Expiry,
}

async fn shard_zero(
    config: Arc<Config>,
    board: Arc<Board>,
    req_tx: mpsc::Sender<Request>,
    mut req_rx: mpsc::Receiver<Request>,
    stop: Stop,
    shared: Shared,
    ready: &std::sync::mpsc::Sender<Result<(), String>>,
) -> Result<(), RunError> {
    let Shared {
        metrics,
        clocks,
        security,
        reloads,
        expiry,
    } = shared;
    let ctx = Rc::new(ShardCtx::new(
        0,
        config.clone(),
        board.clone(),
        req_tx,
        metrics.clone(),
        clocks,
        security.clone(),
    ));
    let opened = match replica::open(config.clone(), board, ctx.clone(), metrics.clone()).await {
        Ok(o) => o,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return Err(RunError::Startup(e.to_string()));
        }
    };
    let listener = match crate::http::server::bind(config.http_addr) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return Err(RunError::Startup(e.to_string()));
        }
    };
    let events = opened.events_tx.clone();

    // Certificate reloads (SIGHUP, /admin/reload-certs) and the daily expiry check.
    glommio::spawn_local(reload::run(
        config.clone(),
        security,
        opened.net.clone(),
        metrics.clone(),
        reloads,
        expiry,
        stop.clone(),
    ))
    .detach();

    // Ticks.
    let tick = Duration::from_millis(config.raft.tick_ms);
    let tx = events.clone();
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(tick).await;
            if tx.unbounded_send(Event::Tick).is_err() {
                break;
            }
        }
    })
    .detach();
    // Requests from every shard.
    let tx = events.clone();
    glommio::spawn_local(async move {
        while let Some(r) = req_rx.next().await {
            if tx.unbounded_send(Event::Request(r)).is_err() {
                break;
            }
        }
    })
    .detach();
    // Peer traffic.
    let (tx, net) = (events.clone(), opened.net.clone());
    glommio::spawn_local(async move {
        while let Some(inbound) = net.recv().await {
            if tx.unbounded_send(Event::Peer(inbound)).is_err() {
                break;
            }
        }
    })
    .detach();
    // Shutdown.
    let (tx, s) = (events.clone(), stop.clone());
    glommio::spawn_local(async move {
        let _ = s.await;
        let _ = tx.unbounded_send(Event::Shutdown);
    })
    .detach();
    let http = glommio::spawn_local(serve_http(listener, ctx, stop)).detach();

    let _ = ready.send(Ok(()));
    tracing::info!(
        id = config.id,
        http = %config.http_addr,
        raft = %config.raft_addr,
        shards = config.shard_count(),
        "node started"
    );
    let result = opened.driver.run(opened.events).await;
    // Give in-flight HTTP responses a moment to reach their clients.
    glommio::timer::sleep(Duration::from_millis(200)).await;
    drop(http);
    result.map_err(RunError::Fatal)
}
