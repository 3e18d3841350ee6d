//! Shared informers, as client-go's: one list and watch per kind keeps an in-memory,
//! indexed copy of it ([`Informer`]) that every component reads instead of asking the API,
//! and tells registered handlers what changed, old and new state both, so each component
//! queues just the keys a change concerns. A watch that ends is resumed from the last
//! revision seen; the kind is listed again only when that revision has left the server's
//! history (410 Gone), and then the difference to the cache is told as changes, so nothing
//! is missed and nothing is told twice.

mod cache;
mod factory;
mod partial;
mod reflector;

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

pub use cache::IndexFn;
pub use factory::{Informers, Unserved};
pub use partial::PartialObject;

use crate::resources::ResourceType;
use cache::Cache;

/// An object's namespace (empty for cluster-scoped kinds) and name.
pub type Key = (String, String);

/// A kind an informer can hold: a k8s-openapi type.
pub trait Kind:
    k8s_openapi::Resource
    + k8s_openapi::Metadata<Ty = ObjectMeta>
    + DeserializeOwned
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> Kind for T where
    T: k8s_openapi::Resource
        + k8s_openapi::Metadata<Ty = ObjectMeta>
        + DeserializeOwned
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// The key of an object.
pub fn key_of<K: Kind>(obj: &K) -> Key {
    let m = obj.metadata();
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}

/// One change to the cache, as handlers see it. Cloning copies its `Arc`s only.
#[derive(Debug)]
pub enum Change<K> {
    /// A new object.
    Added(Arc<K>),
    /// An object changed.
    Updated {
        /// Its state before.
        old: Arc<K>,
        /// Its state now.
        new: Arc<K>,
    },
    /// An object went (its last known state).
    Deleted(Arc<K>),
}

impl<K> Clone for Change<K> {
    fn clone(&self) -> Self {
        match self {
            Change::Added(o) => Change::Added(o.clone()),
            Change::Updated { old, new } => Change::Updated {
                old: old.clone(),
                new: new.clone(),
            },
            Change::Deleted(o) => Change::Deleted(o.clone()),
        }
    }
}

impl<K> Change<K> {
    /// The object's latest known state.
    pub fn object(&self) -> &Arc<K> {
        match self {
            Change::Added(o) | Change::Deleted(o) | Change::Updated { new: o, .. } => o,
        }
    }
}

type Handler<K> = Box<dyn Fn(&Change<K>) + Send + Sync>;

struct Inner<K> {
    rt: &'static ResourceType,
    cache: RwLock<Cache<K>>,
    handlers: Mutex<Vec<Handler<K>>>,
    synced: watch::Sender<bool>,
}

/// The shared, indexed copy of one kind. Cheap to clone; every clone reads the same cache.
pub struct Informer<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Informer {
            inner: self.inner.clone(),
        }
    }
}

impl<K: Kind> Informer<K> {
    fn new(rt: &'static ResourceType) -> Self {
        Informer {
            inner: Arc::new(Inner {
                rt,
                cache: RwLock::new(Cache::default()),
                handlers: Mutex::new(Vec::new()),
                synced: watch::channel(false).0,
            }),
        }
    }

    /// The kind held.
    pub fn resource(&self) -> &'static ResourceType {
        self.inner.rt
    }

    // A handler panicking while holding a lock would abort the process (`panic = "abort"`),
    // so a poisoned lock cannot be observed; its data is taken as it is either way.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache<K>> {
        self.inner
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cache<K>> {
        self.inner
            .cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `handler` for every change from now on; it is first told of every object
    /// already held (as client-go does for a handler added late), so no object is missed.
    /// Handlers run on the informer's task and must be quick: they queue keys.
    pub fn on_change(&self, handler: impl Fn(&Change<K>) + Send + Sync + 'static) {
        let mut handlers = self
            .inner
            .handlers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for obj in self.read().all() {
            handler(&Change::Added(obj));
        }
        handlers.push(Box::new(handler));
    }

    /// Adds an index; [`Informer::by_index`] then finds objects by the values `values_of`
    /// files them under.
    pub fn add_index(&self, name: &'static str, values_of: IndexFn<K>) {
        self.write().add_index(name, values_of);
    }

    /// One object.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.read().get(&(namespace.to_string(), name.to_string()))
    }

    /// Every object.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().all()
    }

    /// The objects of one namespace.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.read().in_namespace(namespace)
    }

    /// The objects the index `name` files under `value`.
    pub fn by_index(&self, name: &str, value: &str) -> Vec<Arc<K>> {
        self.read().by_index(name, value)
    }

    /// Every key held.
    pub fn keys(&self) -> Vec<Key> {
        self.read().keys().cloned().collect()
    }

    /// How many objects are held.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the first list has been taken in.
    pub fn has_synced(&self) -> bool {
        *self.inner.synced.borrow()
    }

    /// Waits until the first list has been taken in.
    pub async fn wait_synced(&self) {
        let mut rx = self.inner.synced.subscribe();
        // The sender lives as long as `self`; an error cannot happen while we hold it.
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Applies one change to the cache and tells the handlers.
    fn apply(&self, obj: Option<Arc<K>>, gone: Option<&Key>) {
        let change = {
            let mut cache = self.write();
            match (obj, gone) {
                (Some(new), _) => match cache.put(new.clone()) {
                    Some(old) => Change::Updated { old, new },
                    None => Change::Added(new),
                },
                (None, Some(key)) => match cache.remove(key) {
                    Some(old) => Change::Deleted(old),
                    None => return,
                },
                (None, None) => return,
            }
        };
        self.tell(&change);
    }

    fn tell(&self, change: &Change<K>) {
        let handlers = self
            .inner
            .handlers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for h in handlers.iter() {
            h(change);
        }
    }

    fn mark_synced(&self) {
        self.inner.synced.send_replace(true);
    }
}

#[cfg(test)]
mod tests;
