"""Baseline: a bare ``websockets`` broadcast server, the floor for any Python server.

Every text frame a client sends goes to every connected client as is.
Run with ``python -m bench.bare_server PORT``.
"""

import asyncio
import sys

from websockets.asyncio.server import broadcast, serve

clients = set()


async def relay(websocket):
    clients.add(websocket)
    try:
        async for message in websocket:
            broadcast(clients, message)
    finally:
        clients.discard(websocket)


async def main(port):
    async with serve(
        relay, "127.0.0.1", port, compression=None, ping_interval=None, max_size=2**20
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
