"""The tiny busybox ``sh`` of the node simulator: parsing, expansion, applets, timeline, endless loops."""

from __future__ import annotations

import random

import pytest

from kubecopilot.sandbox.simulator._catalog import LOG_EPOCH, Program, ServiceLookup
from kubecopilot.sandbox.simulator._shell import COREUTILS_APPLETS, ShellHost, run_shell

ENV = {"HOSTNAME": "web-7d9f8-abcde", "GREETING": "hello world", "EMPTY": ""}
FILES = {"/etc/config/app.yaml": "port: 8080\nmode: prod\n", "/etc/config/extra.txt": "x\n",
         "/etc/secret/token": "s3cr3t"}


def sh(script: str, env: dict[str, str] | None = None, files: dict[str, str] | None = None,
       host: ShellHost | None = None) -> Program:
    return run_shell(["sh", "-c", script], ENV if env is None else env, FILES if files is None else files,
                     host=host)


def lines(p: Program) -> list[str]:
    return [line for _, line in p.logs]


# -- basics: sequencing, exit codes, timeline ---------------------------------------------------------


def test_echo_sleep_exit_builds_the_timeline() -> None:
    p = sh("echo hi; sleep 5; echo bye; exit 3")
    assert p.outcome == "exit"
    assert p.exit_code == 3
    assert p.after_seconds == 5.0
    assert p.logs == [(0.0, "hi"), (5.0, "bye")]


def test_script_end_exits_with_last_status() -> None:
    assert sh("true").exit_code == 0
    assert sh("false").exit_code == 1
    assert sh("echo a\nfalse\n").exit_code == 1


def test_exit_codes_wrap_and_default_to_last_status() -> None:
    assert sh("exit 256").exit_code == 0
    assert sh("exit 300").exit_code == 44
    assert sh("false; exit").exit_code == 1
    p = sh("exit abc")
    assert p.exit_code == 2
    assert "Illegal number" in lines(p)[0]


def test_and_or_lists_and_status_variable() -> None:
    p = sh("false && echo no || echo yes; true || echo never; true && echo also; false; echo $?")
    assert lines(p) == ["yes", "also", "1"]


def test_newlines_separate_commands() -> None:
    p = sh("echo one\n\necho two\n  echo three  # a comment\n")
    assert lines(p) == ["one", "two", "three"]


def test_unknown_command_is_127() -> None:
    p = sh("foo --bar; echo after")
    assert lines(p) == ["sh: foo: not found", "after"]
    assert sh("foo").exit_code == 127


def test_sh_without_command_exits_immediately() -> None:
    for argv in (["sh"], ["/bin/sh"], ["bash"]):
        p = run_shell(argv, {}, {})
        assert (p.outcome, p.exit_code, p.after_seconds, p.logs) == ("exit", 0, 0.0, [])


def test_sh_c_requires_an_argument() -> None:
    p = run_shell(["sh", "-c"], {}, {})
    assert p.exit_code == 2


def test_exec_form_applets_run_directly() -> None:
    p = run_shell(["sleep", "3600"], {}, {})
    assert (p.outcome, p.exit_code, p.after_seconds) == ("exit", 0, 3600.0)
    p = run_shell(["echo", "done"], {}, {})
    assert lines(p) == ["done"]
    p = run_shell(["/bin/sh", "-c", "echo $0 $1", "name", "arg1"], {}, {})
    assert lines(p) == ["name arg1"]


def test_sh_runs_a_script_file_with_arguments() -> None:
    files = {"/scripts/run.sh": "#!/bin/sh\necho running $1\nexit 4\n"}
    p = run_shell(["sh", "/scripts/run.sh", "fast"], {}, files)
    assert lines(p) == ["running fast"]
    assert p.exit_code == 4
    missing = run_shell(["sh", "/scripts/nope.sh"], {}, {})
    assert missing.exit_code == 2
    assert lines(missing) == ["sh: can't open '/scripts/nope.sh': No such file or directory"]


def test_mounted_script_is_executable_by_path() -> None:
    files = {"/scripts/run.sh": "#!/bin/sh\necho from script\n"}
    assert lines(sh("/scripts/run.sh; echo back", files=files)) == ["from script", "back"]
    p = sh("/scripts/missing.sh")
    assert p.exit_code == 127


# -- quoting and expansion ---------------------------------------------------------------------------------


def test_single_and_double_quotes() -> None:
    p = sh("""echo 'a  $GREETING  b' "c  $GREETING" plain\\ space 'it'"'"'s'""")
    assert lines(p) == ["a  $GREETING  b c  hello world plain space it's"]


def test_variable_forms() -> None:
    p = sh('echo $GREETING; echo ${GREETING}!; echo "[${UNSET}]"; echo ${UNSET:-fallback} ${EMPTY:-e} '
           '${EMPTY-kept}; echo ${#GREETING}; X=1; echo ${X:+set} ${UNSET:+no}')
    assert lines(p) == ["hello world", "hello world!", "[]", "fallback e", "11", "set"]


def test_unquoted_expansion_is_field_split_and_quoted_is_not() -> None:
    p = sh('for w in $GREETING; do echo "<$w>"; done; for w in "$GREETING"; do echo "<$w>"; done')
    assert lines(p) == ["<hello>", "<world>", "<hello world>"]


def test_assignment_and_export_and_env() -> None:
    p = sh("A=1; export B=2; env | grep -E '^(A|B)='; printenv B; printenv A || echo not-exported",
           env={"HOSTNAME": "h"})
    assert lines(p) == ["B=2", "2", "not-exported"]


def test_command_substitution_and_arithmetic() -> None:
    p = sh('n=$(echo 4); echo $((n * 2 + 1)) `echo back` "$(echo nested $(echo deep))"; i=5; i=$((i-1)); '
           'echo $i $((7 / 2)) $((7 % 3)) $((2 ** 10)) $((1 < 2))')
    assert lines(p) == ["9 back nested deep", "4 3 1 1024 1"]


def test_parameter_pattern_removal() -> None:
    p = sh('f=/etc/config/app.yaml; echo ${f##*/} ${f%.yaml} ${f#/etc/}')
    assert lines(p) == ["app.yaml /etc/config/app config/app.yaml"]


def test_glob_expands_against_mounted_files() -> None:
    p = sh("for f in /etc/config/*; do echo $f; done; echo /nothing/*")
    assert lines(p) == ["/etc/config/app.yaml", "/etc/config/extra.txt", "/nothing/*"]


def test_bad_substitution_and_unset_with_nounset() -> None:
    p = sh("echo before; echo ${GREETING:bad}; echo after")
    assert p.exit_code == 2
    assert lines(p) == ["before", "sh: syntax error: bad substitution"]
    p = sh("set -u; echo $NOPE; echo never")
    assert p.exit_code == 2
    assert lines(p) == ["sh: NOPE: parameter not set"]


# -- syntax errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("script", "message"), [
    ("echo hi; fi", 'sh: syntax error: unexpected "fi"'),
    ("done", 'sh: syntax error: unexpected "done"'),
    ("echo 'unterminated", "sh: syntax error: unterminated quoted string"),
    ('echo "unterminated', "sh: syntax error: unterminated quoted string"),
    ("while true; do echo x", 'sh: syntax error: unexpected end of file (expecting "done")'),
    ("if true; then echo x", 'sh: syntax error: unexpected end of file (expecting "fi")'),
    ("echo $(echo x", 'sh: syntax error: unexpected end of file (expecting ")")'),
    ("; echo x", 'sh: syntax error: unexpected ";"'),
    ("echo a &&", "sh: syntax error: unexpected end of file"),
    ("echo > ", "sh: syntax error: unexpected end of file"),
])
def test_syntax_errors(script: str, message: str) -> None:
    p = sh(script)
    assert p.outcome == "exit"
    assert p.exit_code == 2
    assert lines(p) == [message]


def test_earlier_lines_run_before_a_syntax_error() -> None:
    p = sh("echo first\necho second; done\necho never")
    assert lines(p) == ["first", 'sh: syntax error: unexpected "done"']
    assert p.exit_code == 2


def test_random_scripts_never_raise() -> None:
    words = ["echo", "a", "'b c'", '"$X"', "${X:-d}", "${", "}", "$(", ")", "(", "`", ";", "&&", "||", "|",
             "\n", "while", "do", "done", "true", "if", "then", "fi", "for", "i", "in", "sleep", "1", "exit",
             "cat", "/etc/config/app.yaml", ">", "/tmp/y", "<<EOF", "EOF", "case", "esac", "*)", ";;", "$((",
             "1+", "))", "[", "]", "-f", "x=1", "f()", "{", "break", '"', "'", "\\", "#", "printf", "read",
             "eval", "until", "seq", "grep", "sed", "s/a/b/", "wget", "timeout", "yes", "tail", "-f"]
    rng = random.Random(7)
    for _ in range(1500):
        script = " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
        p = sh(script, env={"X": "1 2"})
        assert p.outcome in ("exit", "run")
        assert not any("internal error" in line for line in lines(p)), script


# -- applets -------------------------------------------------------------------------------------------------


def test_cat_files_become_log_lines() -> None:
    p = sh("cat /etc/config/app.yaml; cat /etc/nope; echo $?")
    assert lines(p) == ["port: 8080", "mode: prod", "cat: can't open '/etc/nope': No such file or directory",
                        "1"]
    assert sh("cat /etc/nope").exit_code == 1


def test_cat_without_trailing_newline_joins_the_next_write() -> None:
    assert lines(sh("cat /etc/secret/token; echo")) == ["s3cr3t"]


def test_hostname_from_env_or_localhost() -> None:
    assert lines(sh("hostname")) == ["web-7d9f8-abcde"]
    assert lines(sh("hostname", env={})) == ["localhost"]


def test_date_is_stamped_with_the_virtual_clock() -> None:
    p = sh("date; sleep 90; date -u +%H:%M:%S; date +%s")
    assert lines(p) == ["Mon Nov 23 10:00:00 UTC 2026", "10:01:30", str(int(LOG_EPOCH.timestamp()) + 90)]


def test_ls_lists_mounted_files_and_directories() -> None:
    p = sh("ls /etc/config; ls /etc/config/app.yaml; ls /missing")
    assert lines(p) == ["app.yaml", "extra.txt", "/etc/config/app.yaml",
                        "ls: /missing: No such file or directory"]
    assert p.exit_code == 1


def test_test_and_brackets() -> None:
    p = sh('[ -f /etc/config/app.yaml ] && echo file; test -f /etc/nope || echo nofile; '
           '[ -d /etc/config ] && echo dir; [ -n "$GREETING" ] && echo nonempty; '
           '[ -z "$EMPTY" ] && echo empty; '
           '[ "$EMPTY" = "" ] && echo eq; [ 3 -gt 2 ] && echo gt; [ ! -e /x ] && echo notexists; '
           '[ 1 -eq 1 -a 2 -eq 2 ] && echo and')
    assert lines(p) == ["file", "nofile", "dir", "nonempty", "empty", "eq", "gt", "notexists", "and"]


def test_bracket_without_closing_is_an_error() -> None:
    p = sh("[ -f /x")
    assert p.exit_code == 2
    assert lines(p) == ["sh: [: missing ]"]


def test_printf_basic() -> None:
    p = sh(r'printf "%s=%d\n" a 1 b 2; printf "%5s|%-3s|\n" x y; printf "no newline"; echo')
    assert lines(p) == ["a=1", "b=2", "    x|y  |", "no newline"]


def test_echo_flags() -> None:
    p = sh(r'echo -n "a"; echo b; echo -e "c\td"; echo "e\nf"')
    assert lines(p) == ["ab", "c\td", "e\\nf"]


def test_touch_mkdir_and_files_written_by_the_script() -> None:
    p = sh("mkdir -p /data/x && touch /data/x/ready && echo ok > /tmp/out; cat /tmp/out; "
           "[ -f /data/x/ready ] && echo touched; echo more >> /tmp/out; wc -l < /tmp/out")
    assert lines(p) == ["ok", "touched", "2"]
    assert p.exit_code == 0


def test_mounted_files_are_read_only() -> None:
    p = sh("echo x > /etc/config/app.yaml")
    assert p.exit_code == 1
    assert lines(p) == ["sh: can't create /etc/config/app.yaml: Read-only file system"]


def test_redirections() -> None:
    p = sh("echo hidden > /dev/null; cat /nope 2>/dev/null; echo $?; echo err 1>&2; foo 2>&1 | grep -c found")
    assert lines(p) == ["1", "err", "1"]


def test_pipes_and_text_applets() -> None:
    p = sh("cat /etc/config/app.yaml | grep mode | sed 's/prod/dev/'; seq 3 | wc -l; echo b a | tr a-z A-Z; "
           "seq 5 | head -n 2 | tail -n 1; printf 'b\\na\\n' | sort")
    assert lines(p) == ["mode: dev", "3", "B A", "2", "a", "b"]


def test_heredoc() -> None:
    p = sh("cat <<EOF\nname: $GREETING\nEOF\ncat <<'EOF'\nraw: $GREETING\nEOF\necho after")
    assert lines(p) == ["name: hello world", "raw: $GREETING", "after"]


def test_while_read_loop_over_a_file() -> None:
    p = sh("while read key value; do echo \"$key -> $value\"; done < /etc/config/app.yaml")
    assert lines(p) == ["port: -> 8080", "mode: -> prod"]
    assert p.outcome == "exit"


def test_wget_and_nc_succeed_silently_without_a_resolver() -> None:
    p = sh("wget -q -O- http://backend:8080/ && nc -z db 5432 && echo reachable")
    assert lines(p) == ["reachable"]


def test_network_applets_ask_the_service_resolver() -> None:
    answers = {"db": ServiceLookup.NO_ENDPOINTS, "web": ServiceLookup.OK}

    def resolve(host: str) -> ServiceLookup:
        return answers.get(host.split(".")[0], ServiceLookup.MISSING)

    host = ShellHost(resolve_service=resolve, namespace="shop")
    p = sh("nc -z db 5432; echo $?; wget -q http://ghost/; echo $?; wget -q -O- http://web:8080/; echo $?; "
           "nslookup ghost; echo $?", host=host)
    out = lines(p)
    assert out[0].startswith("nc: can't connect to remote host (10.96.")
    assert out[0].endswith("): Connection refused")
    assert out[1:4] == ["1", "wget: bad address 'ghost'", "1"]
    assert out[4] == "0"
    assert "** server can't find ghost.shop.svc.cluster.local: NXDOMAIN" in out
    assert out[-1] == "1"


def test_wget_against_the_containers_own_listeners() -> None:
    host = ShellHost(local_serves={8080: frozenset({"/healthz"}), 6379: None})
    assert sh("wget -q -O- http://localhost:8080/healthz", host=host).exit_code == 0
    p = sh("wget -q -O- http://localhost:8080/nope", host=host)
    assert lines(p) == ["wget: server returned error: HTTP/1.1 404 Not Found"]
    p = sh("wget -q http://127.0.0.1:9999/", host=host)
    assert lines(p) == ["wget: can't connect to remote host (127.0.0.1): Connection refused"]


def test_coreutils_images_lack_busybox_network_applets() -> None:
    p = sh("wget -q http://x/; echo $?", host=ShellHost(applets=COREUTILS_APPLETS))
    assert lines(p) == ["sh: wget: not found", "127"]


def test_applets_by_absolute_path() -> None:
    assert run_shell(["/bin/sleep", "2"], {}, {}).after_seconds == 2.0
    assert run_shell(["/usr/bin/env"], {"A": "1"}, {}).logs == [(0.0, "A=1")]
    p = run_shell(["/opt/sleep", "2"], {}, {})
    assert p.exit_code == 127


def test_sleep_forms() -> None:
    assert sh("sleep 1m").after_seconds == 60.0
    assert sh("sleep 0.5; sleep 1.5").after_seconds == 2.0
    p = sh("sleep abc")
    assert (p.exit_code, lines(p)) == (1, ["sleep: invalid number 'abc'"])


def test_sleep_infinity_and_tail_f_run_forever() -> None:
    for script in ("echo started; sleep infinity", "tail -f /dev/null", "exec sleep infinity"):
        p = sh(script)
        assert p.outcome == "run"
        assert p.periodic_log is None


def test_timeout_cuts_a_blocking_command() -> None:
    p = sh("timeout 5 sleep 60; echo status=$?")
    assert lines(p) == ["status=124"]
    assert p.after_seconds == 5.0


# -- control flow --------------------------------------------------------------------------------------------


def test_if_elif_else() -> None:
    p = sh('if [ "$GREETING" = nope ]; then echo a; elif true; then echo b; else echo c; fi')
    assert lines(p) == ["b"]


def test_for_loop_advances_time() -> None:
    p = sh("for i in 1 2 3; do echo n=$i; sleep 1; done; echo done")
    assert p.logs == [(0.0, "n=1"), (1.0, "n=2"), (2.0, "n=3"), (3.0, "done")]
    assert p.after_seconds == 3.0


def test_long_computation_loops_finish() -> None:
    p = sh("i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; echo $i; "
           "for j in $(seq 1 3000); do :; done; echo $j")
    assert lines(p) == ["2000", "3000"]
    assert p.outcome == "exit"


def test_case_and_functions() -> None:
    p = sh('greet() { echo "hi $1"; return 3; }; greet bob; echo rc=$?; '
           'case "$GREETING" in hello*) echo matched;; *) echo other;; esac')
    assert lines(p) == ["hi bob", "rc=3", "matched"]


def test_break_and_continue() -> None:
    p = sh("for i in 1 2 3 4; do [ $i = 2 ] && continue; [ $i = 4 ] && break; echo $i; done")
    assert lines(p) == ["1", "3"]


def test_subshell_does_not_leak_variables() -> None:
    p = sh("X=outer; (X=inner; echo $X); echo $X; { X=group; }; echo $X")
    assert lines(p) == ["inner", "outer", "group"]


def test_set_e_stops_at_the_first_failure() -> None:
    p = sh("set -e; echo one; false; echo never")
    assert (p.exit_code, lines(p)) == (1, ["one"])
    assert lines(sh("set -e; false || echo handled; echo next")) == ["handled", "next"]


def test_command_builtin() -> None:
    assert lines(sh("command echo hi; command -v echo; command -v nope || echo missing")) == [
        "hi", "echo", "missing"]


def test_set_x_traces() -> None:
    assert lines(sh("set -x; echo hi")) == ["+ echo hi", "hi"]


# -- endless loops become "run" ------------------------------------------------------------------------------


def test_while_true_becomes_a_periodic_log() -> None:
    p = sh("while true; do echo hello; sleep 10; done")
    assert p.outcome == "run"
    assert p.logs == [(0.0, "hello")]
    assert p.periodic_log == "hello"
    assert p.periodic_seconds == 10.0


def test_counter_loop_uses_n_and_date_uses_ts() -> None:
    # the Kubernetes documentation's "counter" pod
    p = sh('i=0; while true; do echo "$i: $(date)"; i=$((i+1)); sleep 1; done')
    assert p.outcome == "run"
    assert p.logs == [(0.0, "0: Mon Nov 23 10:00:00 UTC 2026")]
    assert p.periodic_log == "{n}: {ts}"
    assert p.periodic_seconds == 1.0


def test_counter_starting_at_one_has_no_explicit_iteration() -> None:
    p = sh('echo start; n=1; while :; do echo "tick $n"; n=$((n+1)); sleep 2; done')
    assert lines(p) == ["start"]
    assert (p.periodic_log, p.periodic_seconds) == ("tick {n}", 2.0)


def test_loop_with_several_lines_per_iteration() -> None:
    p = sh("while true; do echo a; echo b; sleep 3; done")
    assert p.periodic_log == "a\nb"
    assert p.periodic_seconds == 3.0


def test_silent_endless_loop() -> None:
    p = sh("echo up; while true; do sleep 3600; done")
    assert (p.outcome, p.periodic_log, lines(p)) == ("run", None, ["up"])


def test_busy_loop_burns_cpu() -> None:
    p = sh("while :; do :; done")
    assert p.outcome == "run"
    assert p.cpu_millicores == 1000


def test_until_loop_waiting_for_a_service() -> None:
    missing = ShellHost(resolve_service=lambda h: ServiceLookup.MISSING)
    script = "until nc -z mydb 5432; do echo waiting for mydb; sleep 2; done; echo ready"
    p = sh(script, host=missing)
    assert p.outcome == "run"
    assert p.periodic_log is not None
    assert p.periodic_log.endswith("waiting for mydb")
    assert p.periodic_seconds == 2.0
    ok = ShellHost(resolve_service=lambda h: ServiceLookup.OK)
    p = sh(script, host=ok)
    assert (p.outcome, lines(p)) == ("exit", ["ready"])


def test_loop_output_redirected_away_has_no_periodic_line() -> None:
    p = sh("while true; do echo x; sleep 1; done > /dev/null")
    assert (p.outcome, p.periodic_log) == ("run", None)


# -- programs of the image -----------------------------------------------------------------------------------


def test_external_programs_are_merged_into_the_timeline() -> None:
    server = Program("run", logs=[(0.5, "listening on :80")], serves={80: frozenset({"/"})},
                     periodic_log="GET /", periodic_seconds=5.0, memory_bytes=8 << 20)
    batch = Program("exit", after_seconds=2.0, exit_code=4, logs=[(1.0, "working")])

    def external(argv: list[str], clock: float) -> Program | None:
        return {"server": server, "batch": batch}.get(argv[0])

    host = ShellHost(external=external)
    p = sh("echo pre; sleep 1; batch; echo rc=$?; exec server", host=host)
    assert p.logs == [(0.0, "pre"), (2.0, "working"), (3.0, "rc=4"), (3.5, "listening on :80")]
    assert p.outcome == "run"
    assert p.serves == {80: frozenset({"/"})}
    assert p.periodic_log == "GET /"
    assert p.memory_bytes == 8 << 20
    assert lines(sh("nothere", host=host)) == ["sh: nothere: not found"]


def test_busybox_httpd_and_nc_listen() -> None:
    files = {"/www/index.html": "<h1>hi</h1>"}
    p = sh("httpd -f -p 8080 -h /www", files=files)
    assert p.outcome == "run"
    assert p.serves == {8080: frozenset({"/", "/index.html"})}
    p = sh("nc -lk -p 9000")
    assert (p.outcome, p.serves) == ("run", {9000: None})


def test_same_input_same_program() -> None:
    script = 'i=0; while true; do echo "$i $RANDOM"; i=$((i+1)); sleep 1; done'
    assert sh(script) == sh(script)
