"""A test-only BuildGrid worker. No published package ships one (BuildGrid
dropped `bgd bot`; buildbox-worker is not packaged), so this is a shim of
the tests, not product code.

It speaks the Bots API: opens a bot session, and for each lease (whose
payload is the REAPI Action, already ACTIVE) runs the action with the
runner given (buildbox-run in the worker image) against the server's CAS,
then reports the ActionResult. It exits when its parent test stops the
server.

usage: bot.py ENDPOINT BOT_ID RUNNER [RUNNER ARGS...]
"""

import os
import subprocess
import sys
import tempfile
import time

import grpc
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re
from buildgrid._protos.google.devtools.remoteworkers.v1test2 import bots_pb2, bots_pb2_grpc
from buildgrid._protos.google.rpc import code_pb2


def run(endpoint, runner, lease):
    action = re.Action()
    lease.payload.Unpack(action)
    with tempfile.TemporaryDirectory() as scratch:
        action_path = os.path.join(scratch, "action")
        result_path = os.path.join(scratch, "result")
        with open(action_path, "wb") as out:
            out.write(action.SerializeToString())
        done = subprocess.run(
            runner
            + [
                "--disable-localcas",
                f"--remote=http://{endpoint}",
                f"--action={action_path}",
                f"--action-result={result_path}",
            ],
            capture_output=True,
        )
        result = re.ActionResult()
        if done.returncode == 0 and os.path.exists(result_path):
            with open(result_path, "rb") as src:
                result.ParseFromString(src.read())
            lease.status.code = code_pb2.OK
        else:
            sys.stderr.write(done.stderr.decode(errors="replace"))
            lease.status.code = code_pb2.INTERNAL
            lease.status.message = "the runner failed"
    lease.result.Pack(result)
    lease.state = bots_pb2.LeaseState.COMPLETED


def main():
    endpoint, bot_id, runner = sys.argv[1], sys.argv[2], sys.argv[3:]
    stub = bots_pb2_grpc.BotsStub(grpc.insecure_channel(endpoint))
    session = bots_pb2.BotSession(bot_id=bot_id, status=bots_pb2.BotStatus.OK)
    while True:
        try:
            session = stub.CreateBotSession(
                bots_pb2.CreateBotSessionRequest(parent="", bot_session=session), timeout=10
            )
            break
        except grpc.RpcError:
            time.sleep(0.2)
    print(f"bot {bot_id}: session {session.name}", flush=True)
    while True:
        for lease in session.leases:
            if lease.state == bots_pb2.LeaseState.PENDING:
                lease.state = bots_pb2.LeaseState.ACTIVE
            if lease.state == bots_pb2.LeaseState.ACTIVE:
                print(f"bot {bot_id}: lease {lease.id}", flush=True)
                run(endpoint, runner, lease)
        try:
            session = stub.UpdateBotSession(
                bots_pb2.UpdateBotSessionRequest(name=session.name, bot_session=session),
                timeout=30,
            )
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.UNAVAILABLE:
                return
            if err.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise


if __name__ == "__main__":
    main()
