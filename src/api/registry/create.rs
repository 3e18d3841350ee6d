//! Create (POST), as upstream's generic `Store.Create`.

use serde_json::Value;

use super::{
    decode_incoming, key, list, meta, validate_new, Answer, Registry, WriteOptions, Written,
};
use crate::api::admission;
use crate::api::field_manager;
use crate::api::status::ApiError;
use crate::resources::ResourceType;
use crate::store::Mutation;

/// Attempts at a free generated name before giving up, as upstream retries on conflict.
const GENERATE_NAME_ATTEMPTS: usize = 8;

impl Registry {
    /// Creates an object in `namespace` (ignored for cluster-scoped kinds).
    pub async fn create(
        &self,
        rt: &ResourceType,
        namespace: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let (mut obj, mut warnings) = decode_incoming(rt, namespace, body, opts.field_validation)?;
        rt.strategy.default(&mut obj);
        // System metadata and a generated name come first, as upstream's `Store.Create`
        // fills them before `PrepareForCreate` (a Job's selector is made from its uid).
        meta::fill_on_create(&mut obj);
        let generate = meta::name_of(&obj)
            .is_empty()
            .then(|| meta::meta_str(&obj, "generateName").map(str::to_string))
            .flatten()
            .filter(|p| !p.is_empty());
        if let Some(prefix) = &generate {
            meta::meta_mut(&mut obj)
                .insert("name".into(), Value::String(meta::generate_name(prefix)));
        }
        rt.strategy.prepare_for_create(&mut obj);
        admission::csr_requester::admit(rt, &mut obj, opts.requester.as_ref());
        warnings.extend(admission::admit_create(self, rt, &mut obj).await?);
        if rt.strategy.tracks_generation() {
            meta::meta_mut(&mut obj).insert("generation".into(), Value::from(1));
        }
        // Held until the object is stored, so two creates never take the same pooled value.
        let _allocation = if rt.strategy.allocates() {
            let guard = self.allocation.lock().await;
            let (existing, _) = self.store.list(&list::prefix(rt, None));
            let parsed: Vec<Value> = existing.iter().map(|o| o.value()).collect();
            let values: Vec<&Value> = parsed.iter().collect();
            if let Err(errs) = rt.strategy.allocate(&mut obj, &values) {
                return Err(ApiError::invalid(rt, meta::name_of(&obj), &errs));
            }
            Some(guard)
        } else {
            None
        };
        let attempts = if generate.is_some() {
            GENERATE_NAME_ATTEMPTS
        } else {
            1
        };
        if !opts.applied {
            let now = meta::now();
            let req = self.field_request(rt, opts, "", &now);
            field_manager::track_update(None, &mut obj, &req);
        }
        let decoded_warnings = warnings.len();
        for attempt in 0..attempts {
            if let (Some(prefix), true) = (&generate, attempt > 0) {
                meta::meta_mut(&mut obj)
                    .insert("name".into(), Value::String(meta::generate_name(prefix)));
            }
            let name = meta::name_of(&obj).to_string();
            let errs = validate_new(rt, &obj);
            if !errs.is_empty() {
                return Err(ApiError::invalid(rt, &name, &errs));
            }
            self.check_namespace(rt, namespace, &name)?;
            admission::validate_create(&self.admission, rt, &obj)?;
            if let Some(node) = opts.requester.as_ref().and_then(|u| u.node_name()) {
                admission::node_restriction::admit_create(self, node, rt, &obj)?;
            }
            // A retry under another generated name is reviewed afresh.
            warnings.truncate(decoded_warnings);
            let requester = opts.requester.as_ref().map(|i| i.user.as_str());
            warnings.extend(admission::review(
                self,
                &self.admission,
                rt,
                &obj,
                None,
                requester,
            )?);
            admission::rbac_escalation::review(self, rt, &obj, None, opts.requester.as_ref())?;
            if opts.dry_run {
                if self.lookup(rt, namespace, &name).is_some() {
                    return Err(ApiError::already_exists(rt, &name));
                }
                return Ok(Written {
                    object: Answer::Unstored(obj),
                    created: true,
                    warnings,
                });
            }
            // The last attempt gives the object up; an earlier one keeps it for the next.
            let mut candidate = Some(if attempt + 1 == attempts {
                std::mem::take(&mut obj)
            } else {
                obj.clone()
            });
            let result = self
                .store
                .mutate(
                    &key(rt, namespace, &name),
                    rt.ephemeral,
                    |current| match current {
                        Some(_) => Err(ApiError::already_exists(rt, &name)),
                        // Asked again after offering it: another server created the
                        // object in between.
                        None => candidate
                            .take()
                            .map(Mutation::Put)
                            .ok_or_else(|| ApiError::already_exists(rt, &name)),
                    },
                )
                .await;
            match result {
                Ok(out) => {
                    let object = match out.object {
                        Some(o) => Answer::Stored(o),
                        None => Answer::Unstored(Value::Null),
                    };
                    return Ok(Written {
                        object,
                        created: true,
                        warnings,
                    });
                }
                Err(e) if e.reason == "AlreadyExists" && generate.is_some() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::new(
            504,
            "ServerTimeout",
            format!(
                "could not find a free name for the generated {} after {attempts} attempts",
                rt.kind
            ),
        ))
    }
}
