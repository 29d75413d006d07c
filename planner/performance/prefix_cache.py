"""The prefix cache of vLLM's block pool, for prompts that share a prefix (planner.performance.scheduler).

Follows vllm/v1/core/block_pool.py and kv_cache_manager.py (0.33):
* every full block of a prompt is hashed (a chain over the tokens before it), so request B finds request
  A's block k only if their first (k + 1) x block_size tokens are the same: the blocks that lie wholly in
  a shared prefix. A lookup takes the longest run of such blocks from the start, at most
  (prompt tokens - 1) // block_size of them (get_computed_blocks: one token is always computed);
* a hit on a block another request holds only adds a reference (no new block); a hit on a block in the
  free queue takes it out of the queue (touch);
* a finished or preempted request's blocks are freed last block first: the ones without a hash (the
  partial last block) go to the front of the free queue, the hashed full blocks to its end, so a freed
  prefix is evicted after everything freed before it (LRU);
* a new block is popped from the front of the free queue; a cached block popped there is evicted.
Blocks of a request's own prompt beyond the shared prefix are hashed too, but no other request can hit
them: they are kept here as anonymous counts. Freeing pushes, allocation pops; the pops are applied
lazily (settle) before the queue is read or prepended to, which gives the same queue as applying them as
they happen (an allocation never takes more blocks than the queue holds).
"""

from __future__ import annotations

from collections import deque

Key = tuple[int, int]          # (prefix group, block index within the prompt)


class PrefixCache:
    """The free queue and the hashed shared-prefix blocks; the caller keeps the free-block count."""

    def __init__(self, num_blocks: int) -> None:
        # entries: an int (that many anonymous blocks) or (key, token): a cached block, live while
        # self.live[key] == token (a touch or an eviction invalidates the entry where it sits)
        self.queue: deque[int | tuple[Key, int]] = deque([num_blocks] if num_blocks > 0 else [])
        self.ref: dict[Key, int] = {}        # cached blocks -> references (0: in the free queue)
        self.live: dict[Key, int] = {}
        self.popped = 0                      # allocations applied to the queue so far
        self._token = 0
        self.evictions = 0

    def settle(self, alloc_total: int) -> None:
        """Apply the allocations made since the last call: pop that many blocks from the front."""
        n = alloc_total - self.popped
        self.popped = alloc_total
        q = self.queue
        while n > 0 and q:
            head = q[0]
            if isinstance(head, int):
                take = min(head, n)
                n -= take
                if take == head:
                    q.popleft()
                else:
                    q[0] = head - take
                continue
            q.popleft()
            key, tok = head
            if self.live.get(key) == tok:
                del self.live[key]
                del self.ref[key]
                self.evictions += 1
                n -= 1

    def lookup(self, group: int, max_blocks: int, alloc_total: int) -> tuple[int, int]:
        """(blocks hit from the start, how many of them are in the free queue), after `alloc_total`
        allocations in all."""
        self.settle(alloc_total)
        hit = free = 0
        ref = self.ref
        while hit < max_blocks:
            r = ref.get((group, hit))
            if r is None:
                break
            if r == 0:
                free += 1
            hit += 1
        return hit, free

    def take(self, group: int, blocks: int) -> None:
        """A request takes references on the first `blocks` cached blocks of `group` (after lookup)."""
        for k in range(blocks):
            key = (group, k)
            if self.ref[key] == 0:
                del self.live[key]           # its queue entry is now stale
            self.ref[key] += 1

    def register(self, group: int, k: int) -> bool:
        """A request computed block k of `group`'s prefix: it becomes the cached copy unless one exists."""
        key = (group, k)
        if key in self.ref:
            return False
        self.ref[key] = 1
        return True

    def release(self, group: int, shared: int, full: int, partial: int, alloc_total: int) -> int:
        """Free a request's blocks: its `shared` referenced prefix blocks, `full` other hashed blocks and
        `partial` unhashed ones. Returns the blocks that entered the free queue."""
        self.settle(alloc_total)
        q = self.queue
        if partial > 0:
            q.appendleft(partial)
        if full > 0:
            if q and isinstance(q[-1], int):
                q[-1] += full
            else:
                q.append(full)
        pushed = partial + full
        for k in range(shared - 1, -1, -1):   # last block first
            key = (group, k)
            self.ref[key] -= 1
            if self.ref[key] == 0:
                self._token += 1
                self.live[key] = self._token
                q.append((key, self._token))
                pushed += 1
        return pushed
