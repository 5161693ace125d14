"""A papermill engine that keeps the evidence of timeouts and dead kernels, and gives the kernel its own env.

papermill's nbclient engine records a failing cell only for ``CellExecutionError``. A ``CellTimeoutError`` or a
``DeadKernelError`` escapes its loop, its ``finally`` marks the cell *completed*, and ``notebook_complete`` then
marks every later cell completed too (ECOSYSTEM-NOTES §3), so the output notebook would claim a clean run. This
engine marks that cell failed, gives it an error output naming what happened, and re-raises. It also starts the
kernel with an explicit environment and working directory instead of papermill's ``chdir`` of the whole process.
"""

from __future__ import annotations

from typing import Any

import nbformat
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines

__all__ = ["ENGINE_NAME", "KubeCopilotEngine"]

ENGINE_NAME = "kubecopilot"


class _Client(PapermillNotebookClient):
    def papermill_execute_cells(self) -> None:
        for index, cell in enumerate(self.nb.cells):
            try:
                self.nb_man.cell_start(cell, index)
                self.execute_cell(cell, index)
            except CellExecutionError as ex:
                self.nb_man.cell_exception(self.nb.cells[index], cell_index=index, exception=ex)
                break
            except (CellTimeoutError, DeadKernelError) as ex:
                failed = self.nb.cells[index]
                if isinstance(ex, CellTimeoutError):
                    evalue = f"the cell ran longer than the execution timeout of {self.timeout} s and was interrupted"
                else:
                    evalue = "the kernel died while running this cell (a crash, os._exit(), or the OOM killer)"
                failed.setdefault("outputs", []).append(nbformat.v4.new_output(
                    "error", ename=type(ex).__name__, evalue=evalue, traceback=[f"{type(ex).__name__}: {evalue}"]))
                self.nb_man.cell_exception(failed, cell_index=index, exception=ex)
                raise
            finally:
                self.nb_man.cell_complete(self.nb.cells[index], cell_index=index)


class KubeCopilotEngine(NBClientEngine):
    """nbclient engine + the cell bookkeeping above; ``kernel_env`` / ``kernel_cwd`` go to the kernel manager and
    ``kernel_log`` receives the kernel process's stdout and stderr."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                 stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                 execution_timeout: float | None = None, kernel_env: dict[str, str] | None = None,
                                 kernel_cwd: str | None = None, kernel_log: str | None = None, **kwargs: Any) -> Any:
        from papermill.log import logger

        kwargs.pop("input_path", None)
        client = _Client(nb_man, timeout=execution_timeout, startup_timeout=start_timeout, kernel_name=kernel_name,
                         log=logger, log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file)
        start: dict[str, Any] = {}
        if kernel_env is not None:
            start["env"] = kernel_env
        if kernel_cwd is not None:
            start["cwd"] = kernel_cwd
        if kernel_log is None:
            return client.execute(**start)
        # the kernel process's own stdout/stderr (ipykernel's start-up noise, a crash's last words) go to a file
        with open(kernel_log, "ab") as log:
            return client.execute(stdout=log, stderr=log, **start)


papermill_engines.register(ENGINE_NAME, KubeCopilotEngine)
