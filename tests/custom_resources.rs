//! A user extends the API with a CustomResourceDefinition and drives it with stock kubectl:
//! the CRD is named and established, its kind shows in discovery (short names, categories)
//! and OpenAPI (`kubectl explain`), objects are pruned, defaulted and validated by the
//! structural schema, printer columns show in `kubectl get`, `status` and `scale`
//! subresources split what each may change, watches and metadata field selectors work, and
//! deleting the CRD deletes its objects.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support;

use support::{eventually, Cluster};

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wg]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.selector
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.replicas
    - name: Color
      type: string
      jsonPath: .spec.color
    schema:
      openAPIV3Schema:
        type: object
        description: A widget for tests.
        properties:
          spec:
            type: object
            description: What the widget should be.
            required: [color]
            properties:
              color:
                type: string
                description: The colour of the widget.
                enum: [red, blue]
              replicas:
                type: integer
                minimum: 0
                default: 1
              tags:
                type: object
                additionalProperties:
                  type: string
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    port: {type: integer}
          status:
            type: object
            properties:
              replicas:
                type: integer
              selector:
                type: string
"#;

fn install(c: &Cluster) {
    c.apply(CRD);
    eventually("the CRD is established", || {
        let s = c.jsonpath(
            &["crd", "widgets.example.com"],
            "{.status.conditions[?(@.type==\"Established\")].status}",
        );
        (s == "True").then_some(())
    });
}

#[test]
fn kubectl_drives_a_custom_resource() {
    let c = Cluster::start();
    install(&c);
    let names = c.jsonpath(&["crd", "widgets.example.com"], "{.status.acceptedNames.kind} {.status.conditions[?(@.type==\"NamesAccepted\")].reason} {.status.storedVersions}");
    assert_eq!(names, "Widget NoConflicts [\"v1\"]");
    let resources = c.kubectl_ok(&["api-resources", "--api-group=example.com"]);
    assert!(
        resources.contains("widgets") && resources.contains("wg") && resources.contains("Widget"),
        "{resources}"
    );

    // Pruned and defaulted: an unknown field goes, replicas takes its default.
    let out = c.kubectl_as(
        &c.kubeconfig(),
        &["apply", "--validate=false", "-f", "-"],
        Some("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: one}\nspec: {color: red, shape: round}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        c.jsonpath(&["wg", "one"], "{.spec}"),
        r#"{"color":"red","replicas":1}"#
    );

    // Strict validation names the unknown field; the schema refuses bad values.
    let strict = c.kubectl_as(
        &c.kubeconfig(),
        &["create", "--validate=strict", "-f", "-"],
        Some("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: two}\nspec: {color: red, shape: round}\n"),
    );
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(
        !strict.status.success() && err.contains("unknown field \"spec.shape\""),
        "{err}"
    );
    let bad = c.kubectl_as(
        &c.kubeconfig(),
        &["create", "-f", "-"],
        Some("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: two}\nspec: {color: pink, replicas: -1}\n"),
    );
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success(), "a pink widget was accepted");
    assert!(err.contains("The Widget \"two\" is invalid"), "{err}");
    assert!(
        err.contains(
            "spec.color: Unsupported value: \"pink\": supported values: \"red\", \"blue\""
        ),
        "{err}"
    );
    assert!(err.contains("spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"), "{err}");
    assert!(c.jsonpath(&["wg", "two"], "{.metadata.name}").is_empty());

    // Printer columns, short names and the `all` category.
    let table = c.kubectl_ok(&["get", "wg"]);
    assert!(table.starts_with("NAME   SIZE   COLOR"), "{table}");
    assert!(table.contains("one    1      red"), "{table}");
    let all = c.kubectl_ok(&["get", "all"]);
    assert!(all.contains("widget.example.com/one"), "{all}");

    // The main resource cannot change the status; the status subresource only the status.
    c.kubectl_ok(&[
        "patch",
        "wg",
        "one",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":5}}"#,
    ]);
    assert_eq!(c.jsonpath(&["wg", "one"], "{.status.replicas}"), "");
    c.kubectl_ok(&[
        "patch",
        "wg",
        "one",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"spec":{"color":"blue"},"status":{"replicas":2,"selector":"app=one"}}"#,
    ]);
    assert_eq!(
        c.jsonpath(&["wg", "one"], "{.spec.color} {.status.replicas}"),
        "red 2"
    );
    let generation = c.jsonpath(&["wg", "one"], "{.metadata.generation}");
    c.kubectl_ok(&["scale", "wg", "one", "--replicas=4"]);
    assert_eq!(c.jsonpath(&["wg", "one"], "{.spec.replicas}"), "4");
    assert_ne!(
        c.jsonpath(&["wg", "one"], "{.metadata.generation}"),
        generation
    );
    let scale = c.kubectl_ok(&[
        "get",
        "--raw",
        "/apis/example.com/v1/namespaces/default/widgets/one/scale",
    ]);
    assert!(
        scale.contains(r#""selector":"app=one""#) && scale.contains(r#""replicas":2"#),
        "{scale}"
    );

    // Strategic merge patches are refused as upstream refuses them for custom resources.
    let smp = c.kubectl(&[
        "patch",
        "wg",
        "one",
        "--type=strategic",
        "-p",
        r#"{"spec":{"color":"blue"}}"#,
    ]);
    let err = String::from_utf8_lossy(&smp.stderr);
    assert!(
        !smp.status.success() && err.contains("application/strategic-merge-patch+json"),
        "{err}"
    );

    // Field selectors on metadata.
    c.apply(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: three}\nspec: {color: blue}\n",
    );
    let picked = c.kubectl_ok(&[
        "get",
        "widgets",
        "--field-selector=metadata.name=three",
        "-o",
        "name",
    ]);
    assert_eq!(picked.trim(), "widget.example.com/three");

    // Server-side apply merges a keyed list item by item, each item its manager's.
    for (manager, port) in [
        ("web", "{name: http, port: 80}"),
        ("metrics", "{name: metrics, port: 9090}"),
    ] {
        let yaml = format!("apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: four}}\nspec: {{color: red, ports: [{port}]}}\n");
        let out = c.kubectl_as(
            &c.kubeconfig(),
            &[
                "apply",
                "--server-side",
                "--field-manager",
                manager,
                "-f",
                "-",
            ],
            Some(&yaml),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        c.jsonpath(&["wg", "four"], "{.spec.ports[*].name}"),
        "http metrics"
    );
    let conflict = c.kubectl_as(
        &c.kubeconfig(),
        &["apply", "--server-side", "--field-manager", "metrics", "-f", "-"],
        Some("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: four}\nspec: {color: red, ports: [{name: http, port: 81}]}\n"),
    );
    let err = String::from_utf8_lossy(&conflict.stderr);
    assert!(
        !conflict.status.success() && err.contains("conflict with \"web\""),
        "{err}"
    );

    // kubectl explain reads the schema.
    let explained = c.kubectl_ok(&["explain", "widgets.spec.color"]);
    assert!(
        explained.contains("The colour of the widget."),
        "{explained}"
    );
    let v2 = c.kubectl_ok(&["explain", "widgets.spec", "--output=plaintext-openapiv2"]);
    assert!(
        v2.contains("KIND:     Widget") && v2.contains("The colour of the widget."),
        "{v2}"
    );
}

#[test]
fn watches_see_changes_and_deleting_the_crd_deletes_its_objects() {
    let c = Cluster::start();
    install(&c);
    let mut watch = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(c.kubeconfig())
        .args(["get", "widgets", "--watch", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl watch");
    c.apply(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: seen}\nspec: {color: red}\n",
    );
    let mut lines = BufReader::new(watch.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a watch event").expect("a line");
    assert_eq!(first, "widget.example.com/seen");
    let _ = watch.kill();
    let _ = watch.wait();

    c.kubectl_ok(&[
        "delete",
        "crd",
        "widgets.example.com",
        "--wait=true",
        "--timeout=60s",
    ]);
    let gone = c.kubectl(&["get", "crd", "widgets.example.com"]);
    assert!(!gone.status.success());
    let raw = c.kubectl(&[
        "get",
        "--raw",
        "/apis/example.com/v1/namespaces/default/widgets",
    ]);
    assert!(
        !raw.status.success(),
        "custom resources still served after their CRD went"
    );

    // A new definition of the same name starts empty.
    install(&c);
    let left = c.kubectl_ok(&["get", "widgets", "-o", "name"]);
    assert!(left.trim().is_empty(), "objects outlived their CRD: {left}");
}

#[test]
fn a_broken_definition_is_refused_with_its_causes() {
    let c = Cluster::start();
    let broken = CRD
        .replace("name: widgets.example.com", "name: gadgets.example.com")
        .replace("storage: true", "storage: false")
        .replace(
            "type: string\n                description: The colour",
            "description: The colour",
        );
    let out = c.kubectl_as(&c.kubeconfig(), &["create", "-f", "-"], Some(&broken));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a broken CRD was accepted");
    assert!(err.contains("metadata.name: Invalid value: \"gadgets.example.com\": must be spec.names.plural+\".\"+spec.group"), "{err}");
    assert!(
        err.contains("must have exactly one version marked as storage version"),
        "{err}"
    );
    assert!(err.contains("spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[color].type: Required value"), "{err}");
}

const TWO_VERSIONS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.org
spec:
  group: example.org
  scope: Namespaced
  names: {plural: gadgets, kind: Gadget}
  versions:
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

#[test]
fn every_served_version_reads_the_same_objects_and_namespaces_take_theirs_along() {
    let c = Cluster::start();
    c.apply(TWO_VERSIONS);
    eventually("gadgets are served", || {
        c.kubectl(&["get", "--raw", "/apis/example.org/v1beta1"])
            .status
            .success()
            .then_some(())
    });
    let group = c.kubectl_ok(&["get", "--raw", "/apis/example.org"]);
    assert!(
        group.contains(r#""preferredVersion":{"groupVersion":"example.org/v1","version":"v1"}"#),
        "{group}"
    );
    c.kubectl_ok(&["create", "namespace", "lab"]);
    c.apply("apiVersion: example.org/v1beta1\nkind: Gadget\nmetadata: {name: g, namespace: lab}\nspec: {size: 3}\n");
    let v1 = c.kubectl_ok(&[
        "get",
        "--raw",
        "/apis/example.org/v1/namespaces/lab/gadgets/g",
    ]);
    assert!(
        v1.contains(r#""apiVersion":"example.org/v1""#) && v1.contains(r#""size":3"#),
        "{v1}"
    );
    let beta = c.kubectl_ok(&[
        "get",
        "--raw",
        "/apis/example.org/v1beta1/namespaces/lab/gadgets",
    ]);
    assert!(
        beta.contains(r#""apiVersion":"example.org/v1beta1","kind":"Gadget""#),
        "{beta}"
    );
    c.kubectl_ok(&[
        "patch",
        "gadgets.v1beta1.example.org",
        "g",
        "-n",
        "lab",
        "--type=merge",
        "-p",
        r#"{"spec":{"size":4}}"#,
    ]);
    assert_eq!(
        c.jsonpath(
            &["gadgets.v1.example.org", "g", "-n", "lab"],
            "{.spec.size}"
        ),
        "4"
    );

    c.kubectl_ok(&["delete", "namespace", "lab", "--timeout=60s"]);
    let left = c.kubectl_ok(&["get", "--raw", "/apis/example.org/v1/gadgets"]);
    assert!(left.contains(r#""items":[]"#), "{left}");
}
