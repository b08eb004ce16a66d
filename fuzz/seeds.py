#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/: each target's starting inputs, from tests/fixtures/ and examples/.

Run from anywhere: `python3 fuzz/seeds.py`. The seeds are checked in; `tests/fuzz.rs` replays
them with the corpus and checks that they reach every chain's reader. The `readers` format is
`nodehealth::fuzzing::decode_scrape`'s: a selector byte (the profile's index), then one chunk
per request of the profile, separated by 0xFF, each an outcome byte and a body.
"""

import json
import pathlib
import shutil

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
OUT = ROOT / "fuzz" / "seeds"

# The selector's profile indices (`PROFILES` in src/fuzzing/readers.rs).
RADIX, ZKSYNC, COMETBFT, ETHEREUM, SOLANA, SUBSTRATE = range(6)
# Flag 4 of the selector: the operator's clock in 2025, by the Radix fixture's.
RECENT = 4 * 6
# Outcome bytes (`OUTCOMES` in src/fuzzing/readers.rs).
OUTCOME = {200: 0, 503: 3, 500: 4, 206: 5, 404: 6, "refused": 11, "absent": 15}


def fixture(path):
    return (FIX / path).read_bytes()


def scrape(selector, *answers):
    """A `readers` input: answers are (outcome, body), in the profile's request order."""
    chunks = [bytes([OUTCOME[o]]) + body for o, body in answers]
    for c in chunks:
        assert 0xFF not in c, "a body holds the separator"
    return bytes([selector]) + b"\xff".join(chunks)


def js(value):
    return json.dumps(value).encode()


RADIX_UP = js({
    "status": "UP",
    "detail": "The node is synced and participating in consensus",
    "recent_self_proposal_miss_statistic": {"missed_count": 1, "recent_proposals_tracked_count": 50},
    "current_protocol_version": "cuttlefish",
    "enacted_protocol_updates": [{"state_version": 1000, "resultant_protocol_version": "anemone"}],
    "pending_protocol_updates": [],
})
RADIX_SYNCING = js({"status": "SYNCING", "detail": "", "recent_self_proposal_miss_statistic": None})
RADIX_BOOTING = js({"status": "BOOTING_PRE_GENESIS"})

# The zksync health-check crate's documented shapes.
ZKSYNC_READY = js({
    "status": "ready",
    "components": {
        "sync_state": {"status": "ready", "details": {"is_synced": True, "local_block": 91, "main_node_block": 91}},
        "connection_pool": {"status": "ready", "details": {"max_size": 50, "pool_size": 10}},
        "tree": {"status": "ready", "details": {"leaf_count": 12624, "mode": "full", "stage": "main_loop"}},
        "main_node_http_rpc": {"status": "ready"},
    },
})
ZKSYNC_NOT_READY = js({
    "status": "not_ready",
    "components": {
        "sync_state": {"status": "affected", "details": {"is_synced": False, "local_block": 1200, "main_node_block": 1500}},
        "tree": {"status": "not_ready", "details": {"stage": "initializing"}},
        "reorg_detector": {"status": "shutting_down"},
        "x": {"status": "degraded_beyond_belief"},
        "y": {"status": 7},
    },
})
# More broken components than a reading names one by one.
ZKSYNC_BROKEN = js({
    "status": "not_ready",
    "components": {f"c{i}": {"status": ["not_ready", "panicked", "melting"][i % 3]} for i in range(24)},
})
ZKSYNC_PAGE = (
    b"# HELP external_node_synced .\n# TYPE external_node_synced gauge\nexternal_node_synced 0\n"
    b"# TYPE external_node_sync_lag gauge\nexternal_node_sync_lag 300\n"
    b"# TYPE server_miniblock_number gauge\nserver_miniblock_number{stage=\"sealed\"} 1200\n# EOF\n"
)

# eth_syncing as geth answers it: syncing, indexing at its head, synced.
ETH_SYNCING = js({"jsonrpc": "2.0", "id": 1, "result": {"startingBlock": "0x0", "currentBlock": "0x1518c", "highestBlock": "0x15200"}})
ETH_INDEXING = js({"jsonrpc": "2.0", "id": 1, "result": {"currentBlock": "0x15200", "highestBlock": "0x15200", "txIndexRemainingBlocks": "0x3e8"}})
ETH_SYNCED = js({"jsonrpc": "2.0", "id": 1, "result": False})
ETH_ERROR = js({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "the method eth_syncing does not exist"}})

EXPOSITION = {
    "radix": fixture("radix_metrics.txt"),
    "openmetrics": fixture("metrics_openmetrics.txt"),
    "cometbft": fixture("cometbft/metrics.txt"),
    "substrate": fixture("substrate/metrics.txt"),
    "zksync": ZKSYNC_PAGE,
}

HEALTH_JSON = {"ready": ZKSYNC_READY, "not-ready": ZKSYNC_NOT_READY, "broken": ZKSYNC_BROKEN}

SYSTEM_HEALTH = {"up": RADIX_UP, "syncing": RADIX_SYNCING, "booting": RADIX_BOOTING}

READERS = {
    "radix-up": scrape(RADIX + RECENT, (200, RADIX_UP), (200, fixture("radix_metrics.txt"))),
    "radix-booting": scrape(RADIX + RECENT, (200, RADIX_BOOTING), ("refused", b"")),
    "zksync-ready": scrape(ZKSYNC, (200, ZKSYNC_READY), (200, ZKSYNC_PAGE)),
    "zksync-not-ready": scrape(ZKSYNC, (503, ZKSYNC_NOT_READY), ("absent", b"")),
    "zksync-broken": scrape(ZKSYNC, (503, ZKSYNC_BROKEN), ("refused", b"")),
    "cometbft-synced": scrape(
        COMETBFT,
        (200, fixture("cometbft/status_synced.json")),
        (200, fixture("cometbft/net_info.json")),
        (200, fixture("cometbft/metrics.txt")),
    ),
    "cometbft-catching-up": scrape(
        COMETBFT,
        (200, fixture("cometbft/status_catching_up.json")),
        (200, fixture("cometbft/net_info_no_peers.json")),
    ),
    "cometbft-booting": scrape(COMETBFT, (200, fixture("cometbft/status_booting.json"))),
    "cometbft-rpc-error": scrape(COMETBFT, (500, fixture("cometbft/status_rpc_error.json"))),
    "cometbft-unwrapped": scrape(COMETBFT, (200, fixture("cometbft/status_unwrapped.json"))),
    "ethereum-synced": scrape(
        ETHEREUM,
        (200, b""),
        (200, fixture("ethereum/syncing_synced.json")),
        (200, fixture("ethereum/peer_count.json")),
        (200, b""),
        (200, ETH_SYNCING),
    ),
    "ethereum-syncing": scrape(
        ETHEREUM,
        (206, b""),
        (200, fixture("ethereum/syncing_syncing.json")),
        (200, fixture("ethereum/peer_count_none.json")),
        ("absent", b""),
        (200, ETH_INDEXING),
    ),
    "ethereum-optimistic": scrape(
        ETHEREUM,
        (206, b""),
        (200, fixture("ethereum/syncing_optimistic.json")),
        ("absent", b""),
        ("absent", b""),
        (200, ETH_SYNCED),
    ),
    "ethereum-el-offline": scrape(
        ETHEREUM,
        (200, b""),
        (200, fixture("ethereum/syncing_el_offline.json")),
        ("absent", b""),
        ("absent", b""),
        (200, ETH_ERROR),
    ),
    "ethereum-genesis": scrape(ETHEREUM, (503, b""), (200, fixture("ethereum/syncing_genesis.json"))),
    "ethereum-phase0": scrape(ETHEREUM, (200, b""), (200, fixture("ethereum/syncing_phase0_client.json"))),
    "solana-ok": scrape(
        SOLANA,
        (200, fixture("solana/health_ok.txt")),
        (200, fixture("solana/get_health_ok.json")),
        (200, fixture("solana/get_slot.json")),
    ),
    "solana-behind": scrape(
        SOLANA,
        (200, fixture("solana/health_behind.txt")),
        (200, fixture("solana/get_health_behind.json")),
        (200, fixture("solana/get_slot.json")),
    ),
    "solana-unknown": scrape(
        SOLANA,
        (200, fixture("solana/health_unknown.txt")),
        (200, fixture("solana/get_health_unknown.json")),
        (200, fixture("solana/get_slot_genesis.json")),
    ),
    "substrate-synced": scrape(
        SUBSTRATE,
        (200, fixture("substrate/health_synced.json")),
        (200, b""),
        (200, fixture("substrate/sync_state_synced.json")),
        (200, fixture("substrate/metrics.txt")),
    ),
    "substrate-syncing": scrape(
        SUBSTRATE,
        (200, fixture("substrate/health_syncing.json")),
        (500, b""),
        (200, fixture("substrate/sync_state_syncing.json")),
    ),
    "substrate-no-peers": scrape(
        SUBSTRATE,
        (200, fixture("substrate/health_no_peers.json")),
        (404, b""),
        (200, fixture("substrate/rpc_method_not_found.json")),
    ),
    "substrate-genesis": scrape(
        SUBSTRATE,
        (200, fixture("substrate/health_dev_chain.json")),
        ("absent", b""),
        (200, fixture("substrate/sync_state_genesis.json")),
    ),
}

SPEC = {
    example.stem: js(yaml.safe_load(example.read_text())["spec"])
    for example in sorted((ROOT / "examples").glob("*.yaml"))
}
SPEC.update({"duration": b"1h30m", "percent": b"20%", "count": b"1"})


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    for target, seeds in [
        ("exposition", EXPOSITION),
        ("health_json", HEALTH_JSON),
        ("system_health", SYSTEM_HEALTH),
        ("readers", READERS),
        ("spec", SPEC),
    ]:
        folder = OUT / target
        folder.mkdir(parents=True)
        for name, data in seeds.items():
            (folder / name).write_bytes(data)
    print(f"wrote {sum(1 for _ in OUT.rglob('*') if _.is_file())} seeds to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
