"""Drives a Bramble server with the official Kubernetes Python client, unmodified.

Usage: python python_client.py KUBECONFIG

Everything goes through `kubernetes.config.load_kube_config`, the generated typed APIs and
`kubernetes.watch.Watch`, exactly as an application written for upstream Kubernetes would.
Each check fails with a message saying what upstream does; the script prints one line per
passed step, runs every section even after one fails, and exits non-zero if any did, or
prints `ALL CHECKS PASSED`.
"""

import datetime
import faulthandler
import functools
import json
import sys
import threading
import time
import traceback

from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

NS = "default"
# Every wait below is bounded; this is the bound for conditions the server reaches on its own.
DEADLINE_SECONDS = 30


def check(condition, message):
    """Fails the script with `message` unless `condition` holds."""
    if not condition:
        raise AssertionError(message)


def step(message):
    print("ok:", message, flush=True)


def status_body(exc):
    """Parses the `Status` object a failed request carries in its body."""
    try:
        body = json.loads(exc.body)
    except (TypeError, ValueError):
        raise AssertionError(
            f"HTTP {exc.status} body is not JSON (upstream sends a Status): {exc.body!r}"
        )
    check(body.get("kind") == "Status", f"error body is not a Status: {body}")
    check(body.get("apiVersion") == "v1", f"Status apiVersion is not v1: {body}")
    check(body.get("status") == "Failure", f"Status.status is not Failure: {body}")
    check(body.get("code") == exc.status, f"Status.code {body.get('code')} != HTTP {exc.status}")
    return body


def expect_api_error(what, status, reason, call):
    """Runs `call`, which must raise ApiException with `status`; returns the Status body."""
    try:
        result = call()
    except ApiException as exc:
        check(
            exc.status == status,
            f"{what}: expected HTTP {status}, got {exc.status}: {exc.body}",
        )
        body = status_body(exc)
        check(
            body.get("reason") == reason,
            f"{what}: expected reason {reason}, got {body.get('reason')}: {body}",
        )
        return body
    raise AssertionError(f"{what}: expected ApiException {status}, but it succeeded: {result}")


def configmap(name, data, labels=None):
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels), data=data
    )


def configmap_crud(v1):
    created = v1.create_namespaced_config_map(NS, configmap("py-cm", {"a": "1"}))
    check(isinstance(created, client.V1ConfigMap), f"create returned {type(created)}")
    check(created.metadata.uid, "created ConfigMap has no uid")
    check(created.metadata.resource_version, "created ConfigMap has no resourceVersion")
    check(created.metadata.creation_timestamp is not None, "no creationTimestamp")
    check(created.data == {"a": "1"}, f"created data: {created.data}")
    rvs = [created.metadata.resource_version]

    read = v1.read_namespaced_config_map("py-cm", NS)
    check(read.metadata.uid == created.metadata.uid, "read returned another object")
    check(read.metadata.resource_version == rvs[-1], "read changed the resourceVersion")
    step("create and read a ConfigMap")

    read.data["b"] = "2"
    replaced = v1.replace_namespaced_config_map("py-cm", NS, read)
    check(replaced.data == {"a": "1", "b": "2"}, f"replaced data: {replaced.data}")
    check(replaced.metadata.resource_version not in rvs, "replace kept the resourceVersion")
    rvs.append(replaced.metadata.resource_version)
    step("replace a ConfigMap")

    # A dict body goes out as application/strategic-merge-patch+json, the client's default.
    patched = v1.patch_namespaced_config_map(
        "py-cm", NS, {"metadata": {"labels": {"patched": "strategic"}}, "data": {"c": "3"}}
    )
    check(patched.data == {"a": "1", "b": "2", "c": "3"}, f"strategic patch data: {patched.data}")
    check(patched.metadata.labels == {"patched": "strategic"}, f"labels: {patched.metadata.labels}")
    check(patched.metadata.resource_version not in rvs, "strategic patch kept the resourceVersion")
    rvs.append(patched.metadata.resource_version)
    step("strategic merge patch (dict body) a ConfigMap")

    # A list body goes out as application/json-patch+json.
    patched = v1.patch_namespaced_config_map(
        "py-cm", NS, [{"op": "replace", "path": "/data/a", "value": "10"}]
    )
    check(patched.data == {"a": "10", "b": "2", "c": "3"}, f"JSON patch data: {patched.data}")
    check(patched.metadata.resource_version not in rvs, "JSON patch kept the resourceVersion")
    rvs.append(patched.metadata.resource_version)
    step("JSON patch (list body) a ConfigMap")

    # The generated patch method has no content-type argument; a default header is how the
    # client sends an RFC 7386 merge patch. null removes a key.
    merge_client = client.ApiClient()
    merge_client.set_default_header("Content-Type", "application/merge-patch+json")
    patched = client.CoreV1Api(merge_client).patch_namespaced_config_map(
        "py-cm", NS, {"data": {"b": None, "d": "4"}}
    )
    check(patched.data == {"a": "10", "c": "3", "d": "4"}, f"merge patch data: {patched.data}")
    check(patched.metadata.resource_version not in rvs, "merge patch kept the resourceVersion")
    rvs.append(patched.metadata.resource_version)
    step("merge patch a ConfigMap")

    # `read` still carries the resourceVersion from before the replace.
    read.data["stale"] = "yes"
    body = expect_api_error(
        "replace with a stale resourceVersion",
        409,
        "Conflict",
        lambda: v1.replace_namespaced_config_map("py-cm", NS, read),
    )
    check(
        body.get("message")
        == 'Operation cannot be fulfilled on configmaps "py-cm": the object has been modified; '
        "please apply your changes to the latest version and try again",
        f"conflict message: {body.get('message')}",
    )
    check(body.get("details", {}).get("name") == "py-cm", f"conflict details: {body}")
    check(body.get("details", {}).get("kind") == "configmaps", f"conflict details: {body}")
    current = v1.read_namespaced_config_map("py-cm", NS)
    check("stale" not in (current.data or {}), "a conflicting replace was stored")
    step("stale replace raises 409 Conflict")

    v1.delete_namespaced_config_map("py-cm", NS)
    body = expect_api_error(
        "read a deleted ConfigMap",
        404,
        "NotFound",
        lambda: v1.read_namespaced_config_map("py-cm", NS),
    )
    check(body.get("message") == 'configmaps "py-cm" not found', f"message: {body.get('message')}")
    check(body.get("details", {}).get("kind") == "configmaps", f"details: {body}")
    step("delete a ConfigMap; reading it raises 404 NotFound")


def invalid_pod(v1):
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="no-image"),
        spec=client.V1PodSpec(containers=[client.V1Container(name="app")]),
    )
    body = expect_api_error(
        "create a pod without an image", 422, "Invalid", lambda: v1.create_namespaced_pod(NS, pod)
    )
    check(
        body.get("message", "").startswith('Pod "no-image" is invalid: '),
        f"message: {body.get('message')}",
    )
    details = body.get("details", {})
    check(details.get("kind") == "Pod" and details.get("name") == "no-image", f"details: {details}")
    causes = details.get("causes") or []
    image = [c for c in causes if c.get("field") == "spec.containers[0].image"]
    check(image, f"no cause for spec.containers[0].image in {causes}")
    check(image[0].get("reason") == "FieldValueRequired", f"image cause: {image[0]}")
    check(image[0].get("message") == "Required value", f"image cause: {image[0]}")
    expect_api_error(
        "read the rejected pod", 404, "NotFound", lambda: v1.read_namespaced_pod("no-image", NS)
    )
    step("invalid pod raises 422 Invalid with a spec.containers[0].image cause")


def list_selectors_and_paging(v1):
    names = [f"page-{i}" for i in range(5)]
    for i, name in enumerate(names):
        tier = "odd" if i % 2 else "even"
        labels = {"set": "paged", "tier": tier}
        v1.create_namespaced_config_map(NS, configmap(name, {"i": str(i)}, labels))
    v1.create_namespaced_config_map(NS, configmap("unlabelled", {}))

    odd = v1.list_namespaced_config_map(NS, label_selector="set=paged,tier=odd")
    check(isinstance(odd, client.V1ConfigMapList), f"list returned {type(odd)}")
    check(
        sorted(c.metadata.name for c in odd.items) == ["page-1", "page-3"],
        f"label selector set=paged,tier=odd: {[c.metadata.name for c in odd.items]}",
    )
    not_even = v1.list_namespaced_config_map(NS, label_selector="set,tier!=even")
    check(
        sorted(c.metadata.name for c in not_even.items) == ["page-1", "page-3"],
        f"label selector set,tier!=even: {[c.metadata.name for c in not_even.items]}",
    )
    step("list with label_selector")

    by_name = v1.list_namespaced_config_map(NS, field_selector="metadata.name=page-2")
    check(
        [c.metadata.name for c in by_name.items] == ["page-2"],
        f"field selector metadata.name=page-2: {[c.metadata.name for c in by_name.items]}",
    )
    step("list with field_selector metadata.name")

    seen, pages, token = [], 0, None
    while True:
        page = v1.list_namespaced_config_map(
            NS, label_selector="set=paged", limit=2, _continue=token
        )
        pages += 1
        check(len(page.items) <= 2, f"page {pages} has {len(page.items)} items with limit=2")
        seen.extend(c.metadata.name for c in page.items)
        token = page.metadata._continue
        if not token:
            break
        check(len(page.items) == 2, f"a non-final page has {len(page.items)} items")
        check(pages < 5, "paging did not end")
    check(pages == 3, f"5 objects with limit=2 took {pages} pages, upstream takes 3")
    check(sorted(seen) == names, f"paging returned {seen}")
    step("list with limit=2 and _continue pages through 5 objects")

    for name in names + ["unlabelled"]:
        v1.delete_namespaced_config_map(name, NS)


def watch_query_is_a_watch(v1):
    """The generated client sends `watch=True` (Python's spelling of the bool); upstream reads
    any value but absent, `0` or `false` (any case) as true (Convert_Slice_string_To_bool), so
    it must start a watch stream, not answer with a list."""
    response = v1.list_namespaced_config_map(
        NS, watch=True, timeout_seconds=1, _preload_content=False, _request_timeout=15
    )
    try:
        body = response.data.decode("utf-8", errors="replace")
    finally:
        response.release_conn()
    check(
        '"ConfigMapList"' not in body,
        "GET ...configmaps?watch=True&timeoutSeconds=1 was answered with a list, not a watch "
        f"stream (upstream treats watch=True as a watch): {body[:300]}",
    )
    step("watch=True starts a watch stream")


def watch_changes(v1):
    watch_query_is_a_watch(v1)
    listed = v1.list_namespaced_config_map(NS)
    list_rv = listed.metadata.resource_version
    check(list_rv, "list has no metadata.resourceVersion to watch from")

    opened = threading.Event()

    # Watch.stream calls this with watch=True and _preload_content=False, so it returns once
    # the response headers are in: from then on the stream is open. functools.wraps keeps the
    # docstring the watch reads to find the event object type (V1ConfigMap).
    @functools.wraps(v1.list_namespaced_config_map)
    def list_and_signal(*args, **kwargs):
        response = v1.list_namespaced_config_map(*args, **kwargs)
        opened.set()
        return response

    written = {}
    failure = []

    def writer():
        try:
            if not opened.wait(DEADLINE_SECONDS):
                failure.append("no watch response headers (upstream sends them at once)")
                return
            made = v1.create_namespaced_config_map(NS, configmap("watched", {"v": "1"}))
            written["ADDED"] = made.metadata.resource_version
            made = v1.patch_namespaced_config_map("watched", NS, {"data": {"v": "2"}})
            written["MODIFIED"] = made.metadata.resource_version
            v1.delete_namespaced_config_map("watched", NS)
            written["DELETED"] = True
        except Exception as exc:  # reported by the main thread
            failure.append(f"writer thread: {exc!r}")

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    w = watch.Watch()
    events = []
    started = time.monotonic()
    for event in w.stream(
        list_and_signal,
        NS,
        resource_version=list_rv,
        timeout_seconds=DEADLINE_SECONDS,
        _request_timeout=DEADLINE_SECONDS + 10,
    ):
        obj = event["object"]
        check(
            isinstance(obj, client.V1ConfigMap),
            f"watch event object is {type(obj)}, not V1ConfigMap: {event['raw_object']}",
        )
        if obj.metadata.name != "watched":
            continue
        events.append((event["type"], obj))
        if event["type"] == "DELETED" or time.monotonic() - started > DEADLINE_SECONDS:
            w.stop()
            break
    thread.join(DEADLINE_SECONDS)
    check(not failure, "; ".join(failure))
    check(not thread.is_alive(), "writer thread did not finish")

    types = [t for t, _ in events]
    check(
        types == ["ADDED", "MODIFIED", "DELETED"],
        f"watch from the list resourceVersion saw {types}, expected ADDED, MODIFIED, DELETED",
    )
    added, modified, deleted = (o for _, o in events)
    check(added.data == {"v": "1"}, f"ADDED object data: {added.data}")
    check(modified.data == {"v": "2"}, f"MODIFIED object data: {modified.data}")
    check(
        added.metadata.resource_version == written["ADDED"],
        f"ADDED rv {added.metadata.resource_version} != create's {written['ADDED']}",
    )
    check(
        modified.metadata.resource_version == written["MODIFIED"],
        f"MODIFIED rv {modified.metadata.resource_version} != patch's {written['MODIFIED']}",
    )
    check(deleted.metadata.uid == added.metadata.uid, "DELETED event carries another object")
    step("watch from the list resourceVersion sees ADDED, MODIFIED, DELETED as V1ConfigMap")


def shared_volumes_pod():
    mount = [client.V1VolumeMount(name="shared-storage", mount_path="/data/shared")]
    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=client.V1ObjectMeta(name="shared-volumes"),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(name="redis", image="redis", volume_mounts=mount),
                client.V1Container(name="nginx", image="nginx", volume_mounts=mount),
            ],
            volumes=[
                client.V1Volume(name="shared-storage", empty_dir=client.V1EmptyDirVolumeSource())
            ],
        ),
    )


def pod_defaults_and_scheduling(v1):
    v1.create_namespaced_pod(NS, shared_volumes_pod())
    pod = v1.read_namespaced_pod("shared-volumes", NS)
    check(isinstance(pod, client.V1Pod), f"read returned {type(pod)}")
    spec = pod.spec
    check([c.name for c in spec.containers] == ["redis", "nginx"], f"containers: {spec.containers}")
    check([c.image for c in spec.containers] == ["redis", "nginx"], "images changed")
    for c in spec.containers:
        mounts = [(m.name, m.mount_path) for m in c.volume_mounts or []]
        check(("shared-storage", "/data/shared") in mounts, f"{c.name} mounts: {mounts}")
        check(c.image_pull_policy == "Always", f"{c.name} imagePullPolicy: {c.image_pull_policy}")
        check(
            c.termination_message_path == "/dev/termination-log",
            f"{c.name} terminationMessagePath: {c.termination_message_path}",
        )
        check(
            c.termination_message_policy == "File",
            f"{c.name} terminationMessagePolicy: {c.termination_message_policy}",
        )
    volumes = {v.name: v for v in spec.volumes or []}
    check(
        "shared-storage" in volumes and volumes["shared-storage"].empty_dir is not None,
        f"volumes: {spec.volumes}",
    )
    check(spec.restart_policy == "Always", f"restartPolicy: {spec.restart_policy}")
    check(spec.dns_policy == "ClusterFirst", f"dnsPolicy: {spec.dns_policy}")
    check(
        spec.termination_grace_period_seconds == 30,
        f"terminationGracePeriodSeconds: {spec.termination_grace_period_seconds}",
    )
    check(spec.scheduler_name == "default-scheduler", f"schedulerName: {spec.scheduler_name}")
    check(pod.status.phase == "Pending", f"phase before any node: {pod.status.phase}")
    step("two-container pod round-trips as V1Pod with upstream defaults")

    # Strategic merge patch merges containers by name: only nginx changes, redis stays.
    patched = v1.patch_namespaced_pod(
        "shared-volumes", NS, {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}
    )
    images = [(c.name, c.image) for c in patched.spec.containers]
    check(
        images == [("redis", "redis"), ("nginx", "nginx:1.27")],
        f"strategic patch of containers by name: {images}",
    )
    step("strategic merge patch merges pod containers by name")

    node = client.V1Node(
        metadata=client.V1ObjectMeta(name="py-node", labels={"kubernetes.io/hostname": "py-node"}),
        status=client.V1NodeStatus(
            capacity={"cpu": "4", "memory": "4Gi", "pods": "110"},
            allocatable={"cpu": "4", "memory": "4Gi", "pods": "110"},
            conditions=[
                client.V1NodeCondition(
                    type="Ready",
                    status="True",
                    reason="KubeletReady",
                    message="kubelet is posting ready status",
                )
            ],
        ),
    )
    made = v1.create_node(node)
    allocatable = made.status.allocatable
    check(
        allocatable == {"cpu": "4", "memory": "4Gi", "pods": "110"},
        f"node allocatable: {allocatable}",
    )
    ready = [c for c in made.status.conditions or [] if c.type == "Ready"]
    check(ready and ready[0].status == "True", f"node conditions: {made.status.conditions}")
    step("create a Ready node with allocatable cpu/memory")

    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        pod = v1.read_namespaced_pod("shared-volumes", NS)
        if pod.spec.node_name:
            break
        check(time.monotonic() < deadline, "the scheduler did not bind the pod within the deadline")
        time.sleep(0.2)
    check(pod.spec.node_name == "py-node", f"pod bound to {pod.spec.node_name}, expected py-node")
    scheduled = [c for c in pod.status.conditions or [] if c.type == "PodScheduled"]
    check(
        scheduled and scheduled[0].status == "True",
        f"PodScheduled condition after binding: {pod.status.conditions}",
    )
    step("the scheduler sets spec.node_name")


def storage_class(storage):
    sc = client.V1StorageClass(
        metadata=client.V1ObjectMeta(name="py-local"),
        provisioner="bramble.io/local-path",
        parameters={"path": "/var/lib/bramble/volumes"},
    )
    made = storage.create_storage_class(sc)
    check(isinstance(made, client.V1StorageClass), f"create returned {type(made)}")
    read = storage.read_storage_class("py-local")
    check(read.provisioner == "bramble.io/local-path", f"provisioner: {read.provisioner}")
    check(read.parameters == {"path": "/var/lib/bramble/volumes"}, f"parameters: {read.parameters}")
    check(read.reclaim_policy == "Delete", f"reclaimPolicy default: {read.reclaim_policy}")
    check(
        read.volume_binding_mode == "Immediate",
        f"volumeBindingMode default: {read.volume_binding_mode}",
    )
    names = [s.metadata.name for s in storage.list_storage_class().items]
    check("py-local" in names, f"storage classes listed: {names}")
    storage.delete_storage_class("py-local")
    expect_api_error(
        "read a deleted StorageClass",
        404,
        "NotFound",
        lambda: storage.read_storage_class("py-local"),
    )
    step("StorageClass round-trips through StorageV1Api")


def lease(coordination):
    ns = "kube-node-lease"
    renew = datetime.datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone.utc)
    body = client.V1Lease(
        metadata=client.V1ObjectMeta(name="py-node"),
        spec=client.V1LeaseSpec(
            holder_identity="py-node", lease_duration_seconds=40, renew_time=renew
        ),
    )
    made = coordination.create_namespaced_lease(ns, body)
    check(isinstance(made, client.V1Lease), f"create returned {type(made)}")
    read = coordination.read_namespaced_lease("py-node", ns)
    check(read.spec.holder_identity == "py-node", f"holderIdentity: {read.spec.holder_identity}")
    duration = read.spec.lease_duration_seconds
    check(duration == 40, f"leaseDurationSeconds: {duration}")
    check(read.spec.renew_time == renew, f"renewTime {read.spec.renew_time} != {renew} (MicroTime)")

    later = renew + datetime.timedelta(seconds=10)
    read.spec.renew_time = later
    renewed = coordination.replace_namespaced_lease("py-node", ns, read)
    check(renewed.spec.renew_time == later, f"renewed renewTime: {renewed.spec.renew_time}")
    check(
        renewed.metadata.resource_version != made.metadata.resource_version,
        "renewing the lease kept the resourceVersion",
    )
    names = [item.metadata.name for item in coordination.list_namespaced_lease(ns).items]
    check("py-node" in names, f"leases listed: {names}")
    step("Lease in kube-node-lease round-trips through CoordinationV1Api")


def run_sections(sections):
    """Runs every section even after one fails, so one server bug does not hide another;
    returns the names of the sections that failed."""
    failed = []
    for name, section in sections:
        try:
            section()
        except Exception:  # every failure is reported, then the script exits non-zero
            failed.append(name)
            print(f"FAIL: {name}", flush=True)
            traceback.print_exc()
            sys.stderr.flush()
    return failed


def server_side_apply(v1):
    """Apply patches as controllers written with the client's dynamic client send them."""
    dyn = dynamic.DynamicClient(client.ApiClient())
    maps = dyn.resources.get(api_version="v1", kind="ConfigMap")

    def apply(body, manager, force=None):
        return maps.server_side_apply(body=body, namespace=NS, field_manager=manager, force_conflicts=force)

    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"mode": "fast"}}
    created = apply(body, "py-operator")
    check(dict(created.data) == {"mode": "fast"}, f"applied data: {created.data}")
    managers = [(m.manager, m.operation) for m in created.metadata.managedFields]
    check(managers == [("py-operator", "Apply")], f"managed fields: {managers}")
    step("server-side apply creates a ConfigMap with its manager's fields")
    v1.patch_namespaced_config_map("applied", NS, {"data": {"mode": "safe"}}, field_manager="py-editor")
    status = expect_api_error("apply over another manager's value", 409, "Conflict", lambda: apply(body, "py-operator"))
    causes = status.get("details", {}).get("causes", [])
    check(
        causes and causes[0].get("reason") == "FieldManagerConflict" and causes[0].get("field") == ".data.mode",
        f"conflict causes: {causes}",
    )
    forced = apply(body, "py-operator", force=True)
    check(dict(forced.data) == {"mode": "fast"}, f"forced data: {forced.data}")
    step("a conflicting apply answers 409 with FieldManagerConflict causes, then force wins")
    v1.delete_namespaced_config_map("applied", NS)


def service_account_tokens(v1):
    """A service account's token, asked for and used as an in-cluster client would."""
    v1.create_namespaced_service_account(NS, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="py-bot")))
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
    answer = v1.create_namespaced_service_account_token("py-bot", NS, request)
    token = answer.status.token
    check(token and token.count(".") == 2, f"token: {token!r}")
    check(answer.status.expiration_timestamp is not None, "no expirationTimestamp")
    step("TokenRequest issues a token")
    base = client.Configuration.get_default_copy()
    as_bot = client.Configuration()
    as_bot.host = base.host
    as_bot.ssl_ca_cert = base.ssl_ca_cert
    as_bot.api_key = {"authorization": "Bearer " + token}
    with client.ApiClient(as_bot) as bot:
        review = client.AuthenticationV1Api(bot).create_self_subject_review(client.V1SelfSubjectReview())
        user = review.status.user_info
        check(user.username == "system:serviceaccount:default:py-bot", f"whoami: {user.username}")
        check("system:serviceaccounts:default" in user.groups, f"groups: {user.groups}")
        access = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(namespace=NS, verb="list", resource="secrets")
            )
        )
        answer = client.AuthorizationV1Api(bot).create_self_subject_access_review(access)
        check(answer.status.allowed is False, f"a fresh account may list secrets: {answer.status}")
        expect_api_error("listing secrets as the account", 403, "Forbidden", lambda: client.CoreV1Api(bot).list_namespaced_secret(NS))
    step("the token authenticates as the account, which may do nothing yet")
    v1.delete_namespaced_service_account("py-bot", NS)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python_client.py KUBECONFIG")
    # Dump every thread's stack and exit if anything hangs past all the bounded waits.
    faulthandler.dump_traceback_later(150, exit=True)
    config.load_kube_config(config_file=sys.argv[1])
    v1 = client.CoreV1Api()
    version = client.VersionApi().get_code()
    check(version.major == "1" and version.minor == "32", f"server version: {version}")
    step(f"connected over TLS, server {version.git_version}")

    failed = run_sections(
        [
            ("ConfigMap create/read/replace/patch/delete", lambda: configmap_crud(v1)),
            ("invalid pod", lambda: invalid_pod(v1)),
            ("list selectors and paging", lambda: list_selectors_and_paging(v1)),
            ("watch", lambda: watch_changes(v1)),
            ("pod defaults and scheduling", lambda: pod_defaults_and_scheduling(v1)),
            ("StorageClass", lambda: storage_class(client.StorageV1Api())),
            ("Lease", lambda: lease(client.CoordinationV1Api())),
            ("server-side apply", lambda: server_side_apply(v1)),
            ("service account tokens", lambda: service_account_tokens(v1)),
        ]
    )
    if failed:
        sys.exit(f"{len(failed)} section(s) failed: {', '.join(failed)}")
    print("ALL CHECKS PASSED", flush=True)


if __name__ == "__main__":
    main()
