//! Message tables for every served kind: for each protobuf message of Kubernetes v1.32's
//! `generated.proto` files, its field numbers, the JSON name of each field and how its value
//! maps to JSON. Field numbers and names are the wire contract with client-go, so they are
//! taken from the upstream `generated.proto` and Go struct tags (`json:"…,omitempty"`,
//! pointer or value) of `k8s.io/api` and `k8s.io/apimachinery`.
//!
//! The tables are written in a compact text form, one message per paragraph:
//! `Name 1 json type; 2 json type; …`, where a line starting with a capitalised word opens a
//! message and indented lines continue it. A type is a scalar code (`s` string, `b` bool,
//! `i` int32, `l` int64, `y` bytes), a well-known type (`q` Quantity, `t` Time, `u`
//! MicroTime, `r` Duration, `x` IntOrString, `j` raw JSON: RawExtension, FieldsV1) or a
//! message name; `*T` is repeated, `{T}` a map keyed by string, and a trailing `!` keeps a
//! zero scalar (Go pointer or a field without `omitempty`). The JSON name `-` marks an
//! embedded struct inlined into its parent (`json:",inline"`).

mod apps;
mod authentication;
mod authorization;
mod batch;
mod certificates;
mod coordination;
mod core_objects;
mod core_pod;
mod core_volume;
mod discovery;
mod meta;
mod policy;
mod rbac;
mod storage;

use std::collections::HashMap;
use std::sync::OnceLock;

/// How a field's value is written in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `string`.
    String,
    /// `bool`.
    Bool,
    /// `int32`.
    Int32,
    /// `int64`.
    Int64,
    /// `bytes`, base64 in JSON.
    Bytes,
    /// `resource.Quantity`: its string form.
    Quantity,
    /// `metav1.Time`: RFC 3339 in seconds.
    Time,
    /// `metav1.MicroTime`: RFC 3339 with microseconds.
    MicroTime,
    /// `metav1.Duration`: a Go duration string.
    Duration,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `runtime.RawExtension` or `metav1.FieldsV1`: raw JSON bytes.
    RawJson,
    /// Another message of the tables, by name.
    Message(&'static str),
}

/// How often a field occurs and how a zero value is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A single value; `keep_zero` when Go would still write a zero value to JSON.
    Single {
        /// The Go field is a pointer or has no `omitempty`.
        keep_zero: bool,
    },
    /// `repeated`: a JSON array.
    Repeated,
    /// `map<string, T>`: a JSON object.
    Map,
    /// An embedded struct whose fields are written into the parent object.
    Inline,
}

/// One field of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The protobuf field number.
    pub number: u32,
    /// The JSON name (empty when inlined).
    pub json: &'static str,
    /// The value's type.
    pub kind: Kind,
    /// Cardinality.
    pub shape: Shape,
}

/// One message: its fields in table order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The protobuf message name.
    pub name: &'static str,
    /// Its fields.
    pub fields: Vec<Field>,
}

impl Message {
    /// The field with this number, if the message has one.
    pub fn field(&self, number: u32) -> Option<&Field> {
        self.fields.iter().find(|f| f.number == number)
    }
}

/// Every message of the tables, by name.
pub struct Schema {
    messages: HashMap<&'static str, Message>,
}

impl Schema {
    /// The message with this name.
    pub fn message(&self, name: &str) -> Option<&Message> {
        self.messages.get(name)
    }
}

/// The table texts, by API group.
const TABLES: &[&str] = &[
    meta::TABLE,
    core_pod::TABLE,
    core_volume::TABLE,
    core_objects::TABLE,
    discovery::TABLE,
    storage::TABLE,
    coordination::TABLE,
    authentication::TABLE,
    authorization::TABLE,
    apps::TABLE,
    batch::TABLE,
    certificates::TABLE,
    policy::TABLE,
    rbac::TABLE,
];

/// The parsed tables, built once.
pub fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        // Invariant: the tables are constants of this crate, and the unit test
        // `every_table_parses_and_every_reference_resolves` parses all of them.
        parse_all(TABLES).expect("the protobuf message tables are well-formed")
    })
}

/// The message an object of this `apiVersion` and `kind` is encoded as, for every kind
/// the server accepts as a request body.
pub fn root(api_version: &str, kind: &str) -> Option<&'static str> {
    Some(match (api_version, kind) {
        ("v1", "Pod") => "Pod",
        ("v1", "Node") => "Node",
        ("v1", "Namespace") => "Namespace",
        ("v1", "Event") => "Event",
        ("v1", "ConfigMap") => "ConfigMap",
        ("v1", "Secret") => "Secret",
        ("v1", "ServiceAccount") => "ServiceAccount",
        ("v1", "Service") => "Service",
        ("v1", "Endpoints") => "Endpoints",
        ("discovery.k8s.io/v1", "EndpointSlice") => "EndpointSlice",
        ("v1", "PersistentVolume") => "PersistentVolume",
        ("v1", "PersistentVolumeClaim") => "PersistentVolumeClaim",
        ("v1", "Binding") => "Binding",
        ("storage.k8s.io/v1", "StorageClass") => "StorageClass",
        ("coordination.k8s.io/v1", "Lease") => "Lease",
        ("certificates.k8s.io/v1", "CertificateSigningRequest") => "CertificateSigningRequest",
        ("apps/v1", "Deployment") => "Deployment",
        ("apps/v1", "ReplicaSet") => "ReplicaSet",
        ("apps/v1", "DaemonSet") => "DaemonSet",
        ("apps/v1", "StatefulSet") => "StatefulSet",
        ("apps/v1", "ControllerRevision") => "ControllerRevision",
        ("v1", "ReplicationController") => "ReplicationController",
        ("autoscaling/v1", "Scale") => "Scale",
        ("batch/v1", "Job") => "Job",
        ("batch/v1", "CronJob") => "CronJob",
        ("policy/v1", "PodDisruptionBudget") => "PodDisruptionBudget",
        ("authentication.k8s.io/v1", "TokenRequest") => "TokenRequest",
        ("authentication.k8s.io/v1", "TokenReview") => "TokenReview",
        ("authentication.k8s.io/v1", "SelfSubjectReview") => "SelfSubjectReview",
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => "SelfSubjectAccessReview",
        ("authorization.k8s.io/v1", "SubjectAccessReview") => "SubjectAccessReview",
        ("authorization.k8s.io/v1", "LocalSubjectAccessReview") => "LocalSubjectAccessReview",
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => "SelfSubjectRulesReview",
        ("rbac.authorization.k8s.io/v1", "Role") => "Role",
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => "ClusterRole",
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => "RoleBinding",
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => "ClusterRoleBinding",
        // The body of a `pods/eviction` create (`policy/v1beta1` too, as upstream accepts).
        ("policy/v1" | "policy/v1beta1", "Eviction") => "Eviction",
        // `metav1.DeleteOptions` is registered in every group version (`AddToGroupVersion`).
        (_, "DeleteOptions") => "DeleteOptions",
        _ => return None,
    })
}

fn parse_all(tables: &[&'static str]) -> Result<Schema, String> {
    let mut messages = HashMap::new();
    for table in tables {
        for m in parse_table(table)? {
            if messages.insert(m.name, m.clone()).is_some() {
                return Err(format!("message {} is defined twice", m.name));
            }
        }
    }
    Ok(Schema { messages })
}

fn parse_table(text: &'static str) -> Result<Vec<Message>, String> {
    let mut out: Vec<Message> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields = if line.starts_with(|c: char| c.is_ascii_uppercase()) {
            let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
            out.push(Message {
                name,
                fields: Vec::new(),
            });
            rest
        } else {
            line
        };
        let msg = out
            .last_mut()
            .ok_or_else(|| format!("fields before any message: {line}"))?;
        for f in fields.split(';').map(str::trim).filter(|f| !f.is_empty()) {
            let field = parse_field(f).map_err(|e| format!("{}: {e}", msg.name))?;
            if msg.field(field.number).is_some() {
                return Err(format!("{}: field {} twice", msg.name, field.number));
            }
            msg.fields.push(field);
        }
    }
    Ok(out)
}

fn parse_field(text: &'static str) -> Result<Field, String> {
    let mut parts = text.split_whitespace();
    let (Some(number), Some(json), Some(ty), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("field {text:?} is not `number name type`"));
    };
    let number: u32 = number
        .parse()
        .map_err(|_| format!("bad field number in {text:?}"))?;
    let (shape, code) = if json == "-" {
        (Shape::Inline, ty)
    } else if let Some(inner) = ty.strip_prefix('*') {
        (Shape::Repeated, inner)
    } else if let Some(inner) = ty.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        (Shape::Map, inner)
    } else if let Some(inner) = ty.strip_suffix('!') {
        (Shape::Single { keep_zero: true }, inner)
    } else {
        (Shape::Single { keep_zero: false }, ty)
    };
    let kind = match code {
        "s" => Kind::String,
        "b" => Kind::Bool,
        "i" => Kind::Int32,
        "l" => Kind::Int64,
        "y" => Kind::Bytes,
        "q" => Kind::Quantity,
        "t" => Kind::Time,
        "u" => Kind::MicroTime,
        "r" => Kind::Duration,
        "x" => Kind::IntOrString,
        "j" => Kind::RawJson,
        m if m.starts_with(|c: char| c.is_ascii_uppercase()) => Kind::Message(m),
        other => return Err(format!("unknown type {other:?} in {text:?}")),
    };
    Ok(Field {
        number,
        json: if json == "-" { "" } else { json },
        kind,
        shape,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_parses_and_every_reference_resolves() {
        let s = parse_all(TABLES).unwrap();
        for m in s.messages.values() {
            for f in &m.fields {
                if let Kind::Message(name) = f.kind {
                    assert!(s.message(name).is_some(), "{}: {name} missing", m.name);
                }
                if f.shape == Shape::Inline {
                    assert!(matches!(f.kind, Kind::Message(_)), "{}", m.name);
                }
            }
        }
        for (v, k) in [
            ("v1", "Pod"),
            ("storage.k8s.io/v1", "StorageClass"),
            ("batch/v1", "Job"),
            ("batch/v1", "CronJob"),
            ("policy/v1", "PodDisruptionBudget"),
            ("policy/v1", "Eviction"),
        ] {
            assert!(s.message(root(v, k).unwrap()).is_some());
        }
    }

    #[test]
    fn wire_contract_spot_checks() {
        let s = schema();
        let pod_spec = s.message("PodSpec").unwrap();
        let f = pod_spec.field(2).unwrap();
        assert_eq!(
            (f.json, f.kind, f.shape),
            ("containers", Kind::Message("Container"), Shape::Repeated)
        );
        let f = pod_spec.field(21).unwrap();
        assert_eq!(f.json, "automountServiceAccountToken");
        assert_eq!(f.shape, Shape::Single { keep_zero: true });
        let meta = s.message("ObjectMeta").unwrap();
        assert_eq!(meta.field(8).unwrap().json, "creationTimestamp");
        assert_eq!(meta.field(11).unwrap().shape, Shape::Map);
        let volume = s.message("Volume").unwrap();
        assert_eq!(volume.field(2).unwrap().shape, Shape::Inline);
        assert_eq!(root("v1", "Deployment"), None);
        assert_eq!(root("apps/v1", "Pod"), None);
    }

    #[test]
    fn malformed_tables_are_rejected() {
        assert!(parse_table("Foo 1 name").is_err());
        assert!(parse_table("Foo 1 name z").is_err());
        assert!(parse_table("Foo 1 a s; 1 b s").is_err());
        assert!(parse_table("  1 a s").is_err());
    }
}
