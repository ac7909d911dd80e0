/**
 * A radix tree over token ids shared by every slot of a context: which token prefixes have attention KV cells in
 * the cache (and which slots hold them), and where recurrent checkpoints sit on those prefixes.
 *
 * ```
 *  root ─[1 45 88 … 1012: system prompt]─▶ A (ckpt, holders {0,3,5}) ─[user 1 …]─▶ B (holders {0}, end of slot 0)
 *                                                                    └[user 2 …]─▶ C (ckpt, holders {3,5}) ─▶ …
 * ```
 *
 * A node is reached by the tokens on the edges from the root; its `depth` is their count. `holders` are the slots
 * whose KV covers every token down to the node (a slot's path is closed upwards: holding a node means holding its
 * ancestors). A slot's registered path always ends at a node (`ends`), split out of an edge where needed. Paths are
 * registered when the engine knows them to be in the cache (admission, checkpoints, finish) and only ever lag the
 * cache, never run ahead of it, so every match is safe.
 *
 * The index holds no bytes: a checkpoint is an id into the {@link CheckpointStore}. It is pure bookkeeping —
 * no backend calls — so it is tested in milliseconds.
 */
export class PrefixIndex {
  private readonly root: IndexNode = newNode(null, 0, []);
  private readonly pathEnds = new Map<number, IndexNode>();
  private readonly checkpointNodes = new Map<number, IndexNode>();

  /**
   * @param checkpointsNeedHolders whether a checkpoint is useless without attention cells under it (hybrid models:
   *   true; purely recurrent models: false, a checkpoint alone restores everything)
   */
  constructor(private readonly checkpointsNeedHolders = true) {}

  /**
   * Registers that `slot`'s KV holds `tokens[0, length)`, replacing what it held: what both share stays held (with
   * its checkpoints), what only the old path had is released. Returns the checkpoints that release orphaned.
   */
  hold(slot: number, tokens: ArrayLike<number>, length = tokens.length): number[] {
    if (length === 0) return this.release(slot);
    const end = this.insert(tokens, length);
    const path = new Set<IndexNode>();
    for (let node: IndexNode | null = end; node !== null && node !== this.root; node = node.parent) {
      node.holders.add(slot);
      path.add(node);
    }
    const previous = this.pathEnds.get(slot);
    previous?.ends.delete(slot);
    end.ends.add(slot);
    this.pathEnds.set(slot, end);
    return previous === undefined ? [] : this.unhold(slot, previous, path);
  }

  /** Tokens registered for `slot` (0 when none). */
  heldLength(slot: number): number {
    return this.pathEnds.get(slot)?.depth ?? 0;
  }

  /**
   * Forgets what `slot` holds. Nodes no slot holds any more are pruned; their checkpoints (when they need holders)
   * are returned so the caller can drop their bytes.
   */
  release(slot: number): number[] {
    const end = this.pathEnds.get(slot);
    if (end === undefined) return [];
    this.pathEnds.delete(slot);
    end.ends.delete(slot);
    return this.unhold(slot, end, new Set());
  }

  /** Removes `slot` from the nodes from `end` up to (not including) the first one in `keep`. */
  private unhold(slot: number, end: IndexNode, keep: ReadonlySet<IndexNode>): number[] {
    const orphaned: number[] = [];
    for (let node: IndexNode | null = end; node !== null && node !== this.root && !keep.has(node); ) {
      node.holders.delete(slot);
      const parent: IndexNode | null = node.parent;
      if (node.holders.size === 0) {
        if (this.checkpointsNeedHolders && node.checkpoint !== undefined) {
          orphaned.push(node.checkpoint);
          this.checkpointNodes.delete(node.checkpoint);
          node.checkpoint = undefined;
        }
        this.prune(node);
      }
      node = parent;
    }
    return orphaned;
  }

  /**
   * Attaches checkpoint `id` at `tokens[0, depth)`, which must be held by some slot (or, for purely recurrent
   * models, anywhere). Returns the checkpoint it replaces at that exact node, if any.
   */
  attachCheckpoint(tokens: ArrayLike<number>, depth: number, id: number): number | undefined {
    if (depth <= 0) throw new RangeError("a checkpoint needs at least one token");
    const node = this.checkpointsNeedHolders ? this.find(tokens, depth) : this.insert(tokens, depth);
    if (node === undefined || (this.checkpointsNeedHolders && node.holders.size === 0)) {
      throw new Error(`no slot holds the ${depth}-token prefix the checkpoint is for`);
    }
    const replaced = node.checkpoint;
    if (replaced !== undefined) this.checkpointNodes.delete(replaced);
    node.checkpoint = id;
    this.checkpointNodes.set(id, node);
    return replaced;
  }

  /** Removes a checkpoint (evicted by the store). */
  detachCheckpoint(id: number): void {
    const node = this.checkpointNodes.get(id);
    if (node === undefined) return;
    this.checkpointNodes.delete(id);
    node.checkpoint = undefined;
    if (node.holders.size === 0) this.prune(node);
  }

  /** Whether a checkpoint already sits exactly at `tokens[0, depth)`. */
  hasCheckpointAt(tokens: ArrayLike<number>, depth: number): boolean {
    return this.find(tokens, depth)?.checkpoint !== undefined;
  }

  /** Depth of a checkpoint, and the prefill it saves beyond the nearest checkpoint above it (its marginal value). */
  checkpointValue(id: number): { depth: number; marginalTokens: number } | undefined {
    const node = this.checkpointNodes.get(id);
    if (node === undefined) return undefined;
    let above = node.parent;
    while (above !== null && above.checkpoint === undefined) above = above.parent;
    return { depth: node.depth, marginalTokens: node.depth - (above?.depth ?? 0) };
  }

  /**
   * Walks `tokens` down the tree. `heldDepth` is the longest prefix whose attention cells some slot holds (and
   * `heldBy` one such slot); `candidates` are the nodes on the way, at most `limit` deep, that carry a checkpoint or
   * end a slot's path (where that slot's live state may sit), deepest first.
   */
  match(tokens: ArrayLike<number>, limit = tokens.length): PrefixMatch {
    const candidates: MatchCandidate[] = [];
    let heldDepth = 0;
    let heldBy: number | undefined;
    let node = this.root;
    let depth = 0;
    while (depth < tokens.length) {
      const child = node.children.get(tokens[depth]!);
      if (child === undefined) break;
      let k = 0;
      while (k < child.edge.length && depth + k < tokens.length && child.edge[k] === tokens[depth + k]) k++;
      if (child.holders.size > 0) {
        heldDepth = depth + k;
        heldBy = first(child.holders);
      }
      if (k < child.edge.length) break;
      depth += k;
      node = child;
      if (depth <= limit && (node.checkpoint !== undefined || node.ends.size > 0)) {
        candidates.push({ depth, checkpoint: node.checkpoint, holders: [...node.holders], ends: [...node.ends] });
      }
    }
    candidates.reverse();
    return { heldDepth, heldBy, candidates };
  }

  /** Nodes in the tree (for tests and metrics). */
  get nodeCount(): number {
    let count = 0;
    const stack = [this.root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      count++;
      stack.push(...node.children.values());
    }
    return count - 1;
  }

  /** Checkpoints attached. */
  get checkpointCount(): number {
    return this.checkpointNodes.size;
  }

  /** The node at exactly `tokens[0, depth)`, if the tree has one there (no splitting). */
  private find(tokens: ArrayLike<number>, depth: number): IndexNode | undefined {
    if (depth > tokens.length) return undefined;
    let node = this.root;
    while (node.depth < depth) {
      const child = node.children.get(tokens[node.depth]!);
      if (child === undefined || child.depth > depth) return undefined;
      for (let k = 0; k < child.edge.length; k++) if (child.edge[k] !== tokens[node.depth + k]) return undefined;
      node = child;
    }
    return node;
  }

  /** The node at exactly `tokens[0, length)`, created (or split out of an edge) when missing. */
  private insert(tokens: ArrayLike<number>, length: number): IndexNode {
    if (length > tokens.length) throw new RangeError(`length ${length} is past the ${tokens.length} tokens given`);
    let node = this.root;
    while (node.depth < length) {
      const at = node.depth;
      const child = node.children.get(tokens[at]!);
      if (child === undefined) {
        const leaf = newNode(node, length, Array.from({ length: length - at }, (_, i) => tokens[at + i]!));
        node.children.set(tokens[at]!, leaf);
        return leaf;
      }
      let k = 0;
      while (k < child.edge.length && at + k < length && child.edge[k] === tokens[at + k]) k++;
      if (k < child.edge.length) {
        // Split the edge: [edge 0..k) becomes a node of its own, holding what the child held.
        const middle = newNode(node, at + k, child.edge.slice(0, k));
        for (const slot of child.holders) middle.holders.add(slot);
        child.edge = child.edge.slice(k);
        child.parent = middle;
        middle.children.set(child.edge[0]!, child);
        node.children.set(tokens[at]!, middle);
        node = middle;
      } else {
        node = child;
      }
    }
    return node;
  }

  /** Removes `node` and empty ancestors when nothing needs them any more. */
  private prune(node: IndexNode): void {
    for (let current: IndexNode | null = node; current !== null && current !== this.root; current = current.parent) {
      if (current.holders.size > 0 || current.checkpoint !== undefined || current.children.size > 0) return;
      current.parent!.children.delete(current.edge[0]!);
    }
  }
}

/** A place on the matched path where a request could resume. */
export interface MatchCandidate {
  /** Tokens from the start. */
  readonly depth: number;
  /** Checkpoint at exactly this depth, if any. */
  readonly checkpoint: number | undefined;
  /** Slots holding the attention cells of this prefix. */
  readonly holders: readonly number[];
  /** Slots whose registered path ends here (their live recurrent state may be at this depth). */
  readonly ends: readonly number[];
}

/** What {@link PrefixIndex.match} found. */
export interface PrefixMatch {
  /** Longest prefix of the tokens whose attention cells some slot holds. */
  readonly heldDepth: number;
  /** A slot holding that prefix. */
  readonly heldBy: number | undefined;
  /** Resume points, deepest first. */
  readonly candidates: readonly MatchCandidate[];
}

interface IndexNode {
  parent: IndexNode | null;
  readonly depth: number;
  edge: number[];
  readonly children: Map<number, IndexNode>;
  readonly holders: Set<number>;
  readonly ends: Set<number>;
  checkpoint: number | undefined;
}

function newNode(parent: IndexNode | null, depth: number, edge: number[]): IndexNode {
  return { parent, depth, edge, children: new Map(), holders: new Set(), ends: new Set(), checkpoint: undefined };
}

function first(set: ReadonlySet<number>): number | undefined {
  for (const value of set) return value;
  return undefined;
}
