"""Exceptions raised by KubeCopilot.

Every message names the problem and the way out. The hierarchy::

    KubeCopilotError
     ├── AuditError                    the audit ledger (DuckDB file) could not be used
     │    ├── AuditCorruptError         the ledger file is unreadable: move it aside (names the file)
     │    ├── AuditLockedError          a query could not get the ledger's lock in time (names the holder)
     │    └── AuditSchemaError          the file was written by a newer KubeCopilot than this one
     ├── ClusterError                  talking to a cluster failed (never quotes credentials)
     │    ├── ClusterApiError           the API server answered with an error status (.status, .body)
     │    │    ├── ClusterAuthError      401 even after rebuilding the client: how to refresh the credential
     │    │    ├── ClusterForbiddenError 403: names verb, resource, group, namespace, user + `kubectl auth can-i`
     │    │    └── ResourceNotFoundError 404: the object or API path does not exist
     │    ├── ClusterUnreachableError   refused / DNS / timeout / TLS: names host:port and the timeout
     │    ├── ConnectionNotFoundError   `kc.use(name)` for a name never connected (lists the open ones)
     │    ├── KubeconfigError           malformed kubeconfig: names the file and the dotted field
     │    │    └── ContextNotFoundError unknown context: lists the available ones and the closest
     │    ├── LogsUnavailableError      `ws.logs(...)`: nothing to read: not started yet, no previous instance
     │    └── UnknownKindError          `ws.list("deploymnet")`: no such kind in discovery; names the closest
     ├── LLMError                      the language model could not give a usable answer
     │    ├── LLMUnavailableError       not configured, unreachable, timed out or 5xx (names endpoint + model)
     │    └── LLMOutputError            the answer failed schema validation even after the retry and fallback
     ├── PlanError                     an OperationPlan cannot be built, approved or executed
     │    ├── PlanNotAllowedError       (action, kind) outside the whitelist: names the allowed ones
     │    ├── PlanValidationError       the server's dry run rejected the change (quotes the server)
     │    ├── PlanApprovalError         approval refused by policy (e.g. requester approving own high risk)
     │    ├── PlanStateError            wrong state for the call (execute unapproved/rejected, approve executed)
     │    ├── PlanDriftError            the live object changed since the plan was made (.drift: field by field)
     │    └── PlanExecutionError        a step failed; says whether the rollback ran and what it restored
     ├── PromptRegistryError           prompts/manifest.json or a template is invalid (names entry + field)
     ├── RunbookError                  a runbook could not be found, parameterised or run
     │    ├── RunbookNotFoundError      unknown runbook name (lists the available ones, the closest first)
     │    ├── RunbookParameterError     unknown / missing / wrong-type parameter, found before a kernel starts
     │    ├── RunbookFailedError        the run failed: failing cell, its source, the error, the output notebook
     │    └── RunbookWaitingError       `resume` of a run whose plans still wait for a human (lists them)
     ├── SandboxError                  the local control plane could not be installed/started/used
     │    ├── BinariesNotFoundError     no kube-apiserver & co. and no way to build them here
     │    └── SandboxNotRunningError    `status`/`down`/`logs` found no sandbox in the data dir
     └── ScenarioError                 a scenario file is malformed (names the file and field)
"""

from __future__ import annotations

__all__ = [
    "AuditCorruptError",
    "AuditError",
    "AuditLockedError",
    "AuditSchemaError",
    "BinariesNotFoundError",
    "ClusterApiError",
    "ClusterAuthError",
    "ClusterError",
    "ClusterForbiddenError",
    "ClusterUnreachableError",
    "ConnectionNotFoundError",
    "ContextNotFoundError",
    "KubeCopilotError",
    "KubeconfigError",
    "LLMError",
    "LLMOutputError",
    "LLMUnavailableError",
    "LogsUnavailableError",
    "PlanApprovalError",
    "PlanDriftError",
    "PlanError",
    "PlanExecutionError",
    "PlanNotAllowedError",
    "PlanStateError",
    "PlanValidationError",
    "PromptRegistryError",
    "ResourceNotFoundError",
    "RunbookError",
    "RunbookFailedError",
    "RunbookNotFoundError",
    "RunbookParameterError",
    "RunbookWaitingError",
    "SandboxError",
    "SandboxNotRunningError",
    "ScenarioError",
    "UnknownKindError",
]


class KubeCopilotError(Exception):
    """Base class of every error KubeCopilot raises on purpose."""


class SandboxError(KubeCopilotError):
    """The sandbox control plane could not be installed, started or reached."""


class BinariesNotFoundError(SandboxError):
    """No control-plane binaries were found and they cannot be built on this machine."""


class SandboxNotRunningError(SandboxError):
    """No sandbox is running in the given data directory."""


class ScenarioError(KubeCopilotError):
    """A scenario file is invalid. The message names the file and the field."""

    def __init__(self, path: str, field: str, problem: str) -> None:
        self.path = path
        self.field = field
        self.problem = problem
        super().__init__(f"{path}: {field}: {problem}")


class AuditError(KubeCopilotError):
    """The audit ledger could not be opened, migrated or queried."""


class AuditCorruptError(AuditError):
    """The ledger file cannot be opened as a DuckDB database.

    Appends are never lost because of it: they wait in the journal next to the file and are written
    once a fresh ledger exists. The message names the file and how to move it aside.
    """

    def __init__(self, path: str, cause: str) -> None:
        self.path = path
        self.cause = cause
        super().__init__(
            f"audit ledger {path} cannot be opened ({cause}). Move it aside (e.g. `mv {path} {path}.corrupt`) "
            f"and KubeCopilot starts a fresh ledger; pending events in {path}.journal.jsonl are kept and written then."
        )


class AuditLockedError(AuditError):
    """A read of the ledger could not get the lock within the timeout.

    Appends never raise this (they go to the journal); queries do, because a stale answer would be worse.
    """

    def __init__(self, path: str, timeout: float, holder_pid: int | None) -> None:
        self.path = path
        self.timeout = timeout
        self.holder_pid = holder_pid
        holder = f"process {holder_pid}" if holder_pid else "another process"
        super().__init__(
            f"audit ledger {path} is locked by {holder}; waited {timeout:g} s. Retry, pass a longer lock_timeout, "
            f"or find the holder (`ps -p {holder_pid or '<pid>'}`; a DuckDB CLI or notebook holding the file open)."
        )


class AuditSchemaError(AuditError):
    """The ledger's schema version is newer than this KubeCopilot knows how to read."""

    def __init__(self, path: str, found: int, known: int) -> None:
        self.path = path
        self.found = found
        self.known = known
        super().__init__(
            f"audit ledger {path} has schema version {found}, but this KubeCopilot knows up to {known}. "
            "Upgrade kubecopilot (`pip install -U kubecopilot`), or point KUBECOPILOT_DB at another file."
        )


# -- cluster connection ------------------------------------------------------------------------------------------


class ClusterError(KubeCopilotError):
    """Talking to a Kubernetes cluster failed. Messages never contain credentials."""


class KubeconfigError(ClusterError):
    """A kubeconfig is malformed or unusable. The message names the source (file, ``<dict>`` or ``<text>``)
    and the dotted field path (``users[0].user.token``); secret values are never quoted."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        super().__init__(f"kubeconfig {source}: {field}: {problem}" if field else f"kubeconfig {source}: {problem}")


class ContextNotFoundError(KubeconfigError):
    """The requested context is not in the kubeconfig; the message lists the available ones and the closest."""

    def __init__(self, source: str, context: str, available: list[str], closest: str | None = None) -> None:
        self.context = context
        self.available = list(available)
        self.closest = closest
        known = ", ".join(available) if available else "(none)"
        hint = f" Did you mean {closest!r}?" if closest else ""
        super().__init__(source, "contexts", f"no context named {context!r}. Available contexts: {known}.{hint}")


class ConnectionNotFoundError(ClusterError):
    """`kc.use(name)` / `kc.current()` found no such connection; the message lists the open ones."""

    def __init__(self, name: str | None, available: list[str], closest: str | None = None) -> None:
        self.name = name
        self.available = list(available)
        self.closest = closest
        if name is None:
            msg = "no connection is open yet: call kc.connect() (optionally with kubeconfig= and context=)"
        else:
            known = ", ".join(available) if available else "(none)"
            hint = f" Did you mean {closest!r}?" if closest else ""
            msg = (f"no connection named {name!r}. Open connections: {known}.{hint} "
                   "Open one with kc.connect(context=...)")
        super().__init__(msg)


class ClusterUnreachableError(ClusterError):
    """The API server could not be reached (refused, DNS, timeout, TLS). Names host, port and the timeout."""

    def __init__(self, host: str, port: int | None, timeout: float, cause: str, *, context: str | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.cause = cause
        self.context = context
        where = f"{host}:{port}" if port else host
        ctx = f" (context {context!r})" if context else ""
        super().__init__(
            f"cannot reach the API server at {where}{ctx}: {cause} (connect timeout {timeout:g} s). "
            "Check that the cluster is running and reachable from here (VPN, port-forward, firewall), "
            "or pass a longer connect_timeout= to kc.connect()."
        )


class ClusterApiError(ClusterError):
    """The API server answered with an error status. ``status``, ``reason`` and the Status ``body`` are kept."""

    def __init__(self, status: int, method: str, path: str, message: str, *,
                 reason: str = "", body: dict | None = None) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.reason = reason
        self.body = body or {}
        super().__init__(message)


class ClusterAuthError(ClusterApiError):
    """401: the credential was rejected, even after rebuilding the client from the kubeconfig once."""


class ClusterForbiddenError(ClusterApiError):
    """403: RBAC denied the request. ``verb``, ``resource``, ``group``, ``namespace`` and ``user`` name what."""

    def __init__(self, method: str, path: str, *, verb: str, resource: str, group: str, namespace: str | None,
                 user: str, server_message: str = "", body: dict | None = None) -> None:
        self.verb = verb
        self.resource = resource
        self.group = group
        self.namespace = namespace
        self.user = user
        res = f"{resource}.{group}" if group else resource
        where = f'in namespace "{namespace}"' if namespace else "at cluster scope"
        ns_flag = f" -n {namespace}" if namespace else ""
        message = (
            f'forbidden: user "{user}" may not {verb} {resource} (API group "{group}") {where}. '
            f"Ask a cluster admin for a Role/RoleBinding that grants it, or connect with a context that has it. "
            f"Check with: kubectl auth can-i {verb} {res}{ns_flag} --as {user}"
        )
        super().__init__(403, method, path, message, reason="Forbidden", body=body)
        self.server_message = server_message


class ResourceNotFoundError(ClusterApiError):
    """404: the object (or the API path) does not exist on this cluster."""


class LogsUnavailableError(ClusterError):
    """The container has no logs to give for that request: it has not started yet, it has no previous instance,
    or the pod is not scheduled. The message says which, and where to look instead (events, ``describe``)."""


class UnknownKindError(ClusterError):
    """The cluster's discovery knows no kind by that name; the message suggests the closest ones."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = list(suggestions)
        hint = f" Did you mean {' or '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"unknown kind {name!r}: the cluster's API discovery serves no resource by that name.{hint} "
            "List what it serves with ws.kinds() (a CRD must be installed before its kind can be listed)."
        )


class LLMError(KubeCopilotError):
    """The language model could not give a usable answer."""


class LLMUnavailableError(LLMError):
    """No LLM is configured, or the endpoint is unreachable, timed out or answered 5xx."""


class LLMOutputError(LLMError):
    """The model's answer failed schema validation even after one retry and the fallback prompt."""


class PlanError(KubeCopilotError):
    """An OperationPlan cannot be built, approved or executed."""


class PlanNotAllowedError(PlanError):
    """The (action, kind) pair is outside the configured whitelist."""


class PlanValidationError(PlanError):
    """The API server's dry run rejected the planned change; the message quotes the server."""


class PlanApprovalError(PlanError):
    """The approval policy refuses this approver for this plan (e.g. a requester approving their own high risk)."""


class PlanStateError(PlanError):
    """The plan is in the wrong state for the call (executing an unapproved or rejected plan, ...)."""


class PlanDriftError(PlanError):
    """The live object changed since the plan was made; ``.drift`` lists what changed, field by field."""

    def __init__(self, message: str, drift: list | None = None) -> None:
        super().__init__(message)
        self.drift = list(drift or [])


class PlanExecutionError(PlanError):
    """A step failed; the message says whether the rollback ran and what it restored."""


class PromptRegistryError(KubeCopilotError):
    """``prompts/manifest.json`` or one of its templates/schemas is invalid (names the entry and the field)."""


class RunbookError(KubeCopilotError):
    """A runbook could not be found, parameterised or run."""


class RunbookNotFoundError(RunbookError):
    """No runbook has that name; the message lists the available ones, the closest first."""


class RunbookParameterError(RunbookError):
    """A parameter is unknown, missing or of the wrong type — found before any kernel starts."""


class RunbookFailedError(RunbookError):
    """The run failed: the failing cell, its source, the error and where the output notebook is."""


class RunbookWaitingError(RunbookError):
    """`resume` was asked for a run whose plans still wait for approval; names them and how to approve them."""
