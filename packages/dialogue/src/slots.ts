/**
 * Bounded slots shared by remote addresses: connections that have not authenticated yet, and plain HTTP
 * sockets. One address may hold at most `perAddress` (more are refused); at the total cap the oldest entry
 * of the address holding the most is evicted to make room, so a flood from one address cannot keep a
 * newcomer from another address (or a quick client from the same one) out for long.
 */
export class AddressSlots<T> {
  private readonly byAddress = new Map<string, Set<T>>();
  private count = 0;

  constructor(
    private readonly total: number,
    private readonly perAddress: number,
  ) {}

  get size(): number {
    return this.count;
  }

  /** Whether `address` is under its own cap (the total cap makes room by eviction). */
  hasRoomFor(address: string): boolean {
    return (this.byAddress.get(address)?.size ?? 0) < this.perAddress;
  }

  /** Takes a slot for `item`, evicting (via `evict`, which must call `delete`) when full; false: refused. */
  add(address: string, item: T, evict: (victim: T) => void): boolean {
    const mine = this.byAddress.get(address);
    if (mine && mine.size >= this.perAddress) return false;
    if (this.count >= this.total) {
      const victim = this.oldestOfBusiest();
      if (victim === undefined) return false;
      evict(victim);
      if (this.count >= this.total) return false;
    }
    let set = this.byAddress.get(address);
    if (!set) this.byAddress.set(address, (set = new Set()));
    set.add(item);
    this.count++;
    return true;
  }

  delete(address: string, item: T): void {
    const set = this.byAddress.get(address);
    if (!set?.delete(item)) return;
    this.count--;
    if (set.size === 0) this.byAddress.delete(address);
  }

  private oldestOfBusiest(): T | undefined {
    let busiest: Set<T> | undefined;
    for (const set of this.byAddress.values()) if (!busiest || set.size > busiest.size) busiest = set;
    return busiest?.values().next().value;
  }
}
