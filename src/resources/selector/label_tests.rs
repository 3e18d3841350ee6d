use serde_json::{json, Map, Value};

use super::*;

fn labels(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn sel(text: &str) -> LabelSelector {
    LabelSelector::parse(text).unwrap()
}

fn err(text: &str) -> String {
    LabelSelector::parse(text).unwrap_err().to_string()
}

#[test]
fn parses_every_operator_and_round_trips() {
    let s = sel("x in (foo,,baz),y,z notin (),w!=v, !q,a==b,c=d,n>1,m<10");
    assert_eq!(
        s.to_string(),
        "a==b,c=d,m<10,n>1,!q,w!=v,x in (,baz,foo),y,z notin ()"
    );
    assert_eq!(s.requirements().len(), 9);
}

#[test]
fn empty_text_selects_everything() {
    let s = sel("");
    assert!(s.is_empty());
    assert!(s.matches(&Map::new()));
    assert!(sel("   ").is_empty());
}

#[test]
fn in_and_notin_are_values_inside_parentheses() {
    let s = sel("a in (in,notin)");
    assert!(s.matches(&labels(json!({"a": "notin"}))));
    assert_eq!(s.requirements()[0].values(), ["in", "notin"]);
}

#[test]
fn matching_follows_upstream() {
    let l = labels(json!({"app": "web", "tier": "front", "n": "5"}));
    assert!(sel("app=web").matches(&l));
    assert!(sel("app==web,tier").matches(&l));
    assert!(!sel("app!=web").matches(&l));
    assert!(sel("missing!=x").matches(&l));
    assert!(sel("missing notin (a)").matches(&l));
    assert!(!sel("missing in (a)").matches(&l));
    assert!(sel("!missing").matches(&l));
    assert!(!sel("!app").matches(&l));
    assert!(sel("n>4,n<6").matches(&l));
    assert!(!sel("n>5").matches(&l));
    assert!(!sel("app>1").matches(&l));
    assert!(!sel("missing<1").matches(&l));
    assert!(sel("app in (db,web)").matches(&l));
    assert!(!sel("app notin (db,web)").matches(&l));
    assert!(sel("x=").matches(&labels(json!({"x": ""}))));
    assert!(!sel("x=").matches(&Map::new()));
}

#[test]
fn syntax_errors_use_upstream_text() {
    assert_eq!(
        err("a b"),
        "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
    );
    assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
    assert_eq!(err("a,"), "found '', expected: identifier after ','");
    assert_eq!(
        err("=a"),
        "found '=', expected: !, identifier, or 'end of string'"
    );
    assert_eq!(
        err("a in b"),
        "unable to parse requirement: found 'b' expected: '('"
    );
    assert_eq!(
        err("a in (b"),
        "unable to parse requirement: found '', expected: ',' or ')'"
    );
    assert_eq!(
        err("a in (="),
        "unable to parse requirement: found '=', expected: ',', ')' or identifier"
    );
    assert_eq!(
        err("a=(b)"),
        "unable to parse requirement: found '(', expected: identifier"
    );
    assert_eq!(
        err("!!a"),
        "unable to parse requirement: found '!', expected: identifier"
    );
    assert_eq!(err("!a=b"), "found '=', expected: ',' or 'end of string'");
}

#[test]
fn invalid_keys_and_values_use_upstream_text() {
    assert_eq!(
        err("a@b=c"),
        "unable to parse requirement: <nil>: Invalid value: \"a@b\": name part must consist of \
         alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric \
         character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is \
         '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    );
    assert_eq!(
        err("a=-b"),
        "unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be \
         an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start \
         and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', \
         regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    );
    assert_eq!(
        err("a>b"),
        "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' \
         operators, the value must be an integer"
    );
}

#[test]
fn label_selector_objects() {
    let s = LabelSelector::from_label_selector(&json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "edge"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "zone", "operator": "Exists"},
            {"key": "env", "operator": "NotIn", "values": ["dev"]}
        ]
    }))
    .unwrap();
    let good = labels(json!({"app": "web", "tier": "edge", "zone": "a"}));
    assert!(s.matches(&good));
    let canary = labels(json!({"app": "web", "tier": "edge", "zone": "a", "canary": "1"}));
    assert!(!s.matches(&canary));
    assert_eq!(s.requires_exact_match("app"), Some("web"));

    let everything = LabelSelector::from_label_selector(&json!({})).unwrap();
    assert!(everything.is_empty() && everything.matches(&Map::new()));
    let nothing = LabelSelector::from_label_selector(&Value::Null).unwrap();
    assert!(!nothing.is_empty() && !nothing.matches(&Map::new()));
}

#[test]
fn label_selector_object_errors() {
    let e = |v: Value| {
        LabelSelector::from_label_selector(&v)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        e(json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})),
        "\"Gt\" is not a valid pod selector operator"
    );
    assert_eq!(
        e(json!({"matchExpressions": [{"key": "a", "operator": "In"}]})),
        "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
    );
    assert_eq!(
        e(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})),
        "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
    );
    let both = e(json!({"matchLabels": {"b@d": "-x"}}));
    assert!(
        both.starts_with("[key: Invalid value: \"b@d\": name part must"),
        "{both}"
    );
    assert!(both.contains(", values[0][b@d]: Invalid value: \"-x\": a valid label"));
}
