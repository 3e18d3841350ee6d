use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::manifest::{self, ManifestError};
use super::mirror::{self, MirrorAction};
use super::source::ManifestDir;
use super::{HASH_ANNOTATION, MIRROR_ANNOTATION, SOURCE_ANNOTATION};

const WEB: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  containers:\n  - name: c\n    image: busybox\n";

#[test]
fn yaml_documents_and_json_are_read() {
    let two = format!("{WEB}---\n---\n{}", WEB.replace("name: web", "name: db"));
    let pods = manifest::parse(&two).unwrap();
    assert_eq!(pods.len(), 2);
    assert_eq!(pods[1]["metadata"]["name"], "db");
    let j = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},"spec":{"containers":[{"name":"c","image":"x"}]}}"#;
    assert_eq!(manifest::parse(j).unwrap()[0]["metadata"]["name"], "j");
}

#[test]
fn files_without_a_usable_pod_are_refused_with_a_reason() {
    assert!(matches!(
        manifest::parse("a: [b"),
        Err(ManifestError::Syntax(_))
    ));
    assert!(matches!(
        manifest::parse("kind: Service\nmetadata: {name: s}\n"),
        Err(ManifestError::NotAPod { index: 0, .. })
    ));
    assert_eq!(manifest::parse(""), Err(ManifestError::Empty));
    let nameless = WEB.replace("  name: web\n", "");
    assert!(matches!(
        manifest::parse(&nameless),
        Err(ManifestError::Invalid { .. })
    ));
    let bad_name = WEB.replace("name: web", "name: Web_1");
    assert!(matches!(
        manifest::parse(&bad_name),
        Err(ManifestError::Invalid { .. })
    ));
    let no_containers = "kind: Pod\nmetadata: {name: p}\nspec: {}\n";
    assert!(matches!(
        manifest::parse(no_containers),
        Err(ManifestError::Invalid { .. })
    ));
}

#[test]
fn a_static_pod_is_named_for_its_node_and_hashed() {
    let doc = &manifest::parse(WEB).unwrap()[0];
    let p = manifest::static_pod(doc, "pi1", "2026-01-01T00:00:00Z");
    assert_eq!(p["metadata"]["name"], "web-pi1");
    assert_eq!(p["metadata"]["namespace"], "default");
    assert_eq!(p["spec"]["nodeName"], "pi1");
    let uid = p["metadata"]["uid"].as_str().unwrap();
    assert_eq!(uid.len(), 32);
    let ann = &p["metadata"]["annotations"];
    assert_eq!(ann[SOURCE_ANNOTATION], "file");
    assert_eq!(ann[HASH_ANNOTATION], uid);
    // the same manifest on the same node: the same uid; another node or a change: another
    assert_eq!(manifest::uid(doc, "pi1"), uid);
    assert_ne!(manifest::uid(doc, "pi2"), uid);
    let changed = &manifest::parse(&WEB.replace("busybox", "busybox:2")).unwrap()[0];
    assert_ne!(manifest::uid(changed, "pi1"), uid);
    let in_ns =
        &manifest::parse(&WEB.replace("  name: web\n", "  name: web\n  namespace: kube-system\n"))
            .unwrap()[0];
    assert_eq!(
        manifest::static_pod(in_ns, "pi1", "t")["metadata"]["namespace"],
        "kube-system"
    );
}

#[test]
fn rescans_follow_added_changed_removed_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut src = ManifestDir::new(dir.path(), "pi1");
    assert!(src.scan().is_empty());
    std::fs::write(dir.path().join("web.yaml"), WEB).unwrap();
    std::fs::write(dir.path().join("notes.txt"), WEB).unwrap();
    std::fs::write(dir.path().join(".hidden.yaml"), WEB).unwrap();
    std::fs::write(dir.path().join("broken.yml"), "kind: Pod\nmetadata: [").unwrap();
    let first = src.scan();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["metadata"]["name"], "web-pi1");
    assert_eq!(
        src.scan(),
        first,
        "an unchanged directory gives the same pods"
    );

    std::fs::write(
        dir.path().join("web.yaml"),
        WEB.replace("busybox", "busybox:2"),
    )
    .unwrap();
    let second = src.scan();
    assert_eq!(second.len(), 1);
    assert_ne!(second[0]["metadata"]["uid"], first[0]["metadata"]["uid"]);

    std::fs::write(
        dir.path().join("dup.json"),
        serde_json::to_string(&manifest::parse(WEB).unwrap()[0]).unwrap(),
    )
    .unwrap();
    assert_eq!(src.scan().len(), 1, "a second definition of web is skipped");

    std::fs::remove_file(dir.path().join("web.yaml")).unwrap();
    std::fs::remove_file(dir.path().join("dup.json")).unwrap();
    assert!(src.scan().is_empty());
}

fn statics(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|n| {
            let doc =
                &manifest::parse(&WEB.replace("name: web", &format!("name: {n}"))).unwrap()[0];
            manifest::static_pod(doc, "pi1", "t")
        })
        .collect()
}

#[test]
fn mirrors_follow_the_static_pods() {
    let s = statics(&["web", "db"]);
    let none = BTreeMap::new();
    let created: Vec<Value> = mirror::plan(&s, &none, "pi1", "node-uid")
        .into_iter()
        .map(|a| match a {
            MirrorAction::Create(m) => m,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(created.len(), 2);
    let m = &created[0];
    assert_eq!(
        m["metadata"]["annotations"][MIRROR_ANNOTATION],
        s[1]["metadata"]["uid"]
    );
    assert_eq!(m["metadata"]["ownerReferences"][0]["kind"], "Node");
    assert_eq!(m["metadata"]["ownerReferences"][0]["uid"], "node-uid");
    assert_eq!(m["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(m["spec"]["nodeName"], "pi1");
    assert!(m["metadata"].get("uid").is_none());

    // the API holds both: nothing to do
    let mut held: BTreeMap<_, _> = created
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut m = m.clone();
            m["metadata"]["uid"] = json!(format!("m{i}"));
            (mirror::key_of(&m), m)
        })
        .collect();
    assert!(mirror::plan(&s, &held, "pi1", "node-uid").is_empty());

    // kubectl delete: the mirror is deleted at once and made again
    let db = ("default".to_string(), "db-pi1".to_string());
    held.get_mut(&db).unwrap()["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    let actions = mirror::plan(&s, &held, "pi1", "node-uid");
    assert!(matches!(&actions[0], MirrorAction::Delete { key, uid } if *key == db && uid == "m0"));
    assert!(matches!(&actions[1], MirrorAction::Create(_)));

    // the static pod is gone: its mirror goes
    let only_web = statics(&["web"]);
    let actions = mirror::plan(&only_web, &held, "pi1", "node-uid");
    assert_eq!(actions.len(), 1);
    assert!(matches!(&actions[0], MirrorAction::Delete { key, .. } if *key == db));

    // a changed manifest: the mirror showing the old hash is replaced
    let changed = {
        let doc = &manifest::parse(&WEB.replace("busybox", "busybox:2")).unwrap()[0];
        vec![manifest::static_pod(doc, "pi1", "t")]
    };
    held.remove(&db);
    let actions = mirror::plan(&changed, &held, "pi1", "node-uid");
    assert_eq!(actions.len(), 2);
}
