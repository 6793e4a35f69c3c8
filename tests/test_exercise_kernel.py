"""In a real Jupyter kernel: pressing Check on an answer that calls sys.exit() gives a verdict, and the
kernel lives on to run the next cell. The click is sent as the browser sends it (a comm message)."""
from __future__ import annotations

import os
import sys

import pytest

jupyter_client = pytest.importorskip("jupyter_client")


def run(kc, code, timeout=120):
    """Execute ``code``; return (stdout text, error or None)."""
    msg_id = kc.execute(code)
    out, error = [], None
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind == "error":
            error = f"{content['ename']}: {content['evalue']}"
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(out), error


@pytest.fixture(params=["fork", "inprocess"])
def kernel(request):
    env = dict(os.environ, LMRL_EXERCISE_SANDBOX=request.param)
    km = jupyter_client.KernelManager(kernel_name="python3")  # this interpreter's own kernel (ipykernel)
    km.start_kernel(env=env)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def click(kc, model_id):
    """Send the comm message a browser sends when the button is clicked."""
    content = {"comm_id": model_id, "data": {"method": "custom", "content": {"event": "click"}}}
    msg = kc.session.msg("comm_msg", content)
    kc.shell_channel.send(msg)


def test_check_click_on_sys_exit_keeps_the_kernel_alive(kernel):
    kc = kernel
    out, err = run(kc, "import sys, torch\n"
                       "from lmrl_course.exercises import check\n"
                       "def stable_softmax(z, dim=-1):\n    raise NotImplementedError\n"
                       "result = check('stable_softmax', stable_softmax)\n"
                       "w = result.widget\n"
                       "print(w.check_button.model_id)\n")
    assert err is None, err
    model_id = out.strip().splitlines()[-1]
    # the learner writes an answer that exits, re-runs the cell, and clicks Check
    out, err = run(kc, "def stable_softmax(z, dim=-1):\n    sys.exit('bye')\n")
    assert err is None
    click(kc, model_id)
    out, err = run(kc, "import time\n"
                       "for _ in range(600):\n"
                       "    if '[NOT ATTEMPTED]' not in w.verdict.value: break\n"
                       "    time.sleep(0.1)\n"
                       "print(result.status, '|', result.message)\n")
    assert err is None, err
    assert out.startswith("FAIL |") and "sys.exit" in out, out
    out, err = run(kc, "print(1 + 1)")             # the kernel is alive and runs the next cell
    assert err is None and out.strip() == "2"
    # the name is rebound to the reference, as notebooks do: Check still checks the learner's answer
    out, err = run(kc, "stable_softmax = result.function\n")
    click(kc, model_id)
    out, err = run(kc, "print(result.status)")
    assert out.strip() == "FAIL", out
