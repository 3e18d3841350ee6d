//! One informer per kind for a whole process, as client-go's `SharedInformerFactory`: the
//! first component to ask for a kind starts its list and watch, every later one shares the
//! same cache. The tasks stop with the process's shutdown token.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{reflector, Informer, Kind, PartialObject};
use crate::client::Client;
use crate::resources::{self, ResourceType};

/// A kind no informer can hold because the API does not serve it.
#[derive(Debug, thiserror::Error)]
#[error("the API serves no {kind} in {api_version}")]
pub struct Unserved {
    api_version: &'static str,
    kind: &'static str,
}

/// The process's informers.
pub struct Informers<C> {
    client: C,
    shutdown: CancellationToken,
    by_kind: Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
    /// Metadata-only informers, by group and resource.
    partial: Mutex<HashMap<(&'static str, &'static str), Informer<PartialObject>>>,
    tasks: Mutex<JoinSet<()>>,
}

impl<C: Client> Informers<C> {
    /// Informers reading through `client`, stopping on `shutdown`.
    pub fn new(client: C, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Informers {
            client,
            shutdown,
            by_kind: Mutex::new(HashMap::new()),
            partial: Mutex::new(HashMap::new()),
            tasks: Mutex::new(JoinSet::new()),
        })
    }

    /// The client the informers read through (components write through it too).
    pub fn client(&self) -> &C {
        &self.client
    }

    /// The shutdown token the informers stop on.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// The shared informer of `K`, started on first use. Must be called inside the runtime.
    pub fn get<K: Kind>(&self) -> Result<Informer<K>, Unserved> {
        let mut by_kind = self.by_kind.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = by_kind
            .get(&TypeId::of::<K>())
            .and_then(|b| b.downcast_ref::<Informer<K>>())
        {
            return Ok(i.clone());
        }
        let rt = resources::lookup_kind(K::API_VERSION, K::KIND).ok_or(Unserved {
            api_version: K::API_VERSION,
            kind: K::KIND,
        })?;
        let informer = Informer::<K>::new(rt);
        by_kind.insert(TypeId::of::<K>(), Box::new(informer.clone()));
        self.spawn(informer.clone());
        Ok(informer)
    }

    /// The shared metadata-only informer of `rt`, started on first use.
    pub fn metadata(&self, rt: &'static ResourceType) -> Informer<PartialObject> {
        let mut partial = self.partial.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = partial.get(&(rt.group, rt.plural)) {
            return i.clone();
        }
        let informer = Informer::<PartialObject>::new(rt);
        partial.insert((rt.group, rt.plural), informer.clone());
        self.spawn(informer.clone());
        informer
    }

    fn spawn<K: Kind>(&self, informer: Informer<K>) {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .spawn(reflector::run(
                self.client.clone(),
                informer,
                self.shutdown.clone(),
            ));
    }

    /// Waits for every informer's task to end (after shutdown).
    pub async fn stopped(&self) {
        let mut tasks =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        while tasks.join_next().await.is_some() {}
    }
}
