//! Service account tokens for projected volumes, as upstream's kubelet token manager
//! (`pkg/kubelet/token/token_manager.go`) keeps them: one cached token per request (namespace,
//! service account, audiences, lifetime, bound pod), asked for again through
//! `serviceaccounts/<name>/token` once 80% of its lifetime has passed or it is older than
//! 24 hours (upstream's `requiresRefresh`, without its jitter). When renewing fails, the cached
//! token is used as long as it has not expired. Expired tokens and those of deleted pods are
//! dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::client::status::ApiError;
use crate::client::Client;
use crate::kubelet::volume::TokenRequestKey;

/// A token older than this is renewed whatever its lifetime (upstream's `maxTTL`).
const MAX_TTL_HOURS: i64 = 24;
/// A token is renewed once this share of its lifetime has passed.
const RENEW_AT_PERCENT: i64 = 80;

/// Where tokens come from: the API's `serviceaccounts/<name>/token` subresource.
pub trait TokenSource: Send + Sync {
    /// Sends the `TokenRequest` `request` for `namespace/service_account`.
    fn request_token(
        &self,
        namespace: &str,
        service_account: &str,
        request: &Value,
    ) -> impl std::future::Future<Output = Result<Value, ApiError>> + Send;
}

impl<C: Client> TokenSource for C {
    async fn request_token(
        &self,
        namespace: &str,
        service_account: &str,
        request: &Value,
    ) -> Result<Value, ApiError> {
        self.create_token(namespace, service_account, request).await
    }
}

/// Why no token could be had (upstream's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to fetch token: {0}")]
pub struct TokenError(#[from] FetchFailure);

/// Why asking the API for a token failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchFailure {
    /// The API refused the request.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// The API's answer has no usable `status.token` or `status.expirationTimestamp`.
    #[error("the token request's answer has no {0}")]
    BadAnswer(&'static str),
}

/// What the clock says now; injected so renewal can be tested without waiting.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// A token the API issued.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CachedToken {
    token: String,
    expiration: DateTime<Utc>,
    /// The lifetime the API granted (`spec.expirationSeconds` of its answer).
    lifetime_seconds: i64,
}

impl CachedToken {
    fn from_answer(answer: &Value, asked_seconds: i64) -> Result<Self, FetchFailure> {
        let token = answer
            .pointer("/status/token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or(FetchFailure::BadAnswer("status.token"))?;
        let expiration = answer
            .pointer("/status/expirationTimestamp")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .ok_or(FetchFailure::BadAnswer("status.expirationTimestamp"))?
            .with_timezone(&Utc);
        let lifetime_seconds = answer
            .pointer("/spec/expirationSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(asked_seconds);
        Ok(CachedToken {
            token: token.to_string(),
            expiration,
            lifetime_seconds,
        })
    }

    fn expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expiration
    }

    /// Upstream's `requiresRefresh`: past 80% of the lifetime, issued more than 24 h ago, or
    /// issued in the future (the clock went back). A lifetime out of chrono's range renews
    /// at once.
    fn requires_refresh(&self, now: DateTime<Utc>) -> bool {
        let lifetime = self.lifetime_seconds.max(0);
        let at = || -> Option<(DateTime<Utc>, DateTime<Utc>, DateTime<Utc>)> {
            let issued = self
                .expiration
                .checked_sub_signed(Duration::try_seconds(lifetime)?)?;
            let oldest = issued.checked_add_signed(Duration::try_hours(MAX_TTL_HOURS)?)?;
            let share = lifetime.checked_mul(RENEW_AT_PERCENT)? / 100;
            let renew_at = issued.checked_add_signed(Duration::try_seconds(share)?)?;
            Some((issued, oldest, renew_at))
        };
        match at() {
            Some((issued, oldest, renew_at)) => now >= oldest || now >= renew_at || now < issued,
            None => true,
        }
    }
}

/// The node's cache of service account tokens, shared by every pod worker.
pub struct TokenManager {
    cache: Mutex<HashMap<TokenRequestKey, CachedToken>>,
    clock: Clock,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("tokens", &self.lock().len())
            .finish()
    }
}

impl Default for TokenManager {
    fn default() -> Self {
        Self::with_clock(Arc::new(Utc::now))
    }
}

impl TokenManager {
    /// A manager whose idea of now is `clock`.
    pub fn with_clock(clock: Clock) -> Self {
        TokenManager {
            cache: Mutex::new(HashMap::new()),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<TokenRequestKey, CachedToken>> {
        // The map holds no invariant a panicking holder could break half-way.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The token for `key`: the cached one while it needs no renewal, else a new one from
    /// `source` (or the cached one while it is still valid, when the API fails).
    pub async fn token<S: TokenSource>(
        &self,
        source: &S,
        key: &TokenRequestKey,
    ) -> Result<String, TokenError> {
        let now = (self.clock)();
        let cached = {
            let mut cache = self.lock();
            cache.retain(|_, t| !t.expired(now));
            cache.get(key).cloned()
        };
        if let Some(t) = cached.as_ref().filter(|t| !t.requires_refresh(now)) {
            return Ok(t.token.clone());
        }
        let asked = source
            .request_token(&key.namespace, &key.service_account, &key.request())
            .await
            .map_err(FetchFailure::from)
            .and_then(|answer| CachedToken::from_answer(&answer, key.expiration_seconds));
        match (asked, cached) {
            (Ok(fresh), _) => {
                let token = fresh.token.clone();
                self.lock().insert(key.clone(), fresh);
                Ok(token)
            }
            (Err(e), Some(old)) => {
                tracing::warn!(
                    namespace = %key.namespace,
                    service_account = %key.service_account,
                    error = %e,
                    "renewing a service account token failed; using the cached one"
                );
                Ok(old.token)
            }
            (Err(e), None) => Err(TokenError(e)),
        }
    }

    /// Forgets every token bound to pod `pod_uid` (the pod is gone).
    pub fn forget_pod(&self, pod_uid: &str) {
        self.lock().retain(|k, _| k.pod_uid != pod_uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// A token source that issues `token-<n>` tokens of the asked lifetime from `now`, or
    /// fails while `fail` is set.
    struct FakeApi {
        now: Arc<AtomicI64>,
        issued: AtomicI64,
        fail: std::sync::atomic::AtomicBool,
        requests: Mutex<Vec<Value>>,
    }

    impl TokenSource for FakeApi {
        async fn request_token(
            &self,
            namespace: &str,
            service_account: &str,
            request: &Value,
        ) -> Result<Value, ApiError> {
            assert_eq!((namespace, service_account), ("ns", "robot"));
            self.requests.lock().unwrap().push(request.clone());
            if self.fail.load(Ordering::SeqCst) {
                return Err(ApiError::new(503, "ServiceUnavailable", "server is down"));
            }
            let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
            let seconds = request["spec"]["expirationSeconds"].as_i64().unwrap();
            let now = DateTime::from_timestamp(self.now.load(Ordering::SeqCst), 0).unwrap();
            let mut answer = request.clone();
            answer["status"] = json!({
                "token": format!("token-{n}"),
                "expirationTimestamp": (now + Duration::seconds(seconds)).to_rfc3339(),
            });
            Ok(answer)
        }
    }

    fn setup() -> (TokenManager, FakeApi, Arc<AtomicI64>) {
        let now = Arc::new(AtomicI64::new(1_700_000_000));
        let clock_now = now.clone();
        let clock: Clock = Arc::new(move || {
            DateTime::from_timestamp(clock_now.load(Ordering::SeqCst), 0).unwrap()
        });
        let api = FakeApi {
            now: now.clone(),
            issued: AtomicI64::new(0),
            fail: false.into(),
            requests: Mutex::new(Vec::new()),
        };
        (TokenManager::with_clock(clock), api, now)
    }

    fn key(uid: &str, seconds: i64) -> TokenRequestKey {
        TokenRequestKey {
            namespace: "ns".into(),
            service_account: "robot".into(),
            audiences: vec![],
            expiration_seconds: seconds,
            pod_name: "web".into(),
            pod_uid: uid.into(),
        }
    }

    #[tokio::test]
    async fn tokens_are_cached_until_eighty_percent_of_their_lifetime() {
        let (tm, api, now) = setup();
        let k = key("u-1", 3600);
        assert_eq!(tm.token(&api, &k).await.unwrap(), "token-1");
        let sent = api.requests.lock().unwrap()[0].clone();
        assert_eq!(sent, k.request());
        now.fetch_add(2879, Ordering::SeqCst); // just before 80% of an hour
        assert_eq!(tm.token(&api, &k).await.unwrap(), "token-1");
        now.fetch_add(1, Ordering::SeqCst); // 2880 s = 80%
        assert_eq!(tm.token(&api, &k).await.unwrap(), "token-2");
        assert_eq!(tm.token(&api, &k).await.unwrap(), "token-2");
        // A clock set back before the token was issued renews it.
        now.fetch_sub(60, Ordering::SeqCst);
        assert_eq!(tm.token(&api, &k).await.unwrap(), "token-3");
        // Another pod's token is its own.
        assert_eq!(tm.token(&api, &key("u-2", 3600)).await.unwrap(), "token-4");
        assert_eq!(api.requests.lock().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn long_lived_tokens_are_renewed_after_a_day() {
        let (tm, api, now) = setup();
        let k = key("u-1", 7 * 24 * 3600);
        assert_eq!(tm.token(&api, &k).await.unwrap(), "token-1");
        now.fetch_add(24 * 3600 - 1, Ordering::SeqCst);
        assert_eq!(tm.token(&api, &k).await.unwrap(), "token-1");
        now.fetch_add(1, Ordering::SeqCst);
        assert_eq!(tm.token(&api, &k).await.unwrap(), "token-2");
    }

    #[tokio::test]
    async fn failed_renewals_use_the_valid_token_then_fail_once_it_expired() {
        let (tm, api, now) = setup();
        let k = key("u-1", 600);
        let err = {
            api.fail.store(true, Ordering::SeqCst);
            tm.token(&api, &k).await.unwrap_err()
        };
        assert_eq!(err.to_string(), "failed to fetch token: server is down");
        api.fail.store(false, Ordering::SeqCst);
        assert_eq!(tm.token(&api, &k).await.unwrap(), "token-1");
        api.fail.store(true, Ordering::SeqCst);
        now.fetch_add(500, Ordering::SeqCst); // renewal due, API down
        assert_eq!(tm.token(&api, &k).await.unwrap(), "token-1");
        now.fetch_add(100, Ordering::SeqCst); // expired
        assert!(tm.token(&api, &k).await.is_err());
        api.fail.store(false, Ordering::SeqCst);
        assert_eq!(tm.token(&api, &k).await.unwrap(), "token-2");
    }

    #[tokio::test]
    async fn deleted_pods_lose_their_tokens() {
        let (tm, api, _now) = setup();
        tm.token(&api, &key("u-1", 3600)).await.unwrap();
        tm.token(&api, &key("u-2", 3600)).await.unwrap();
        tm.forget_pod("u-1");
        assert_eq!(tm.token(&api, &key("u-2", 3600)).await.unwrap(), "token-2");
        assert_eq!(tm.token(&api, &key("u-1", 3600)).await.unwrap(), "token-3");
    }

    #[test]
    fn answers_without_a_token_or_expiry_are_refused() {
        let err = CachedToken::from_answer(&json!({"status": {}}), 600).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the token request's answer has no status.token"
        );
        let answer = json!({"status": {"token": "t", "expirationTimestamp": "soon"}});
        let err = CachedToken::from_answer(&answer, 600).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the token request's answer has no status.expirationTimestamp"
        );
    }
}
