import { randomUUID } from "node:crypto";

export interface OrderLine {
  sku: string;
  quantity: number;
  unitPriceCents: number;
}

export interface Order {
  id: string;
  customerId: string;
  lines: OrderLine[];
  totalCents: number;
  createdAt: string;
}

export type NewOrder = Pick<Order, "customerId" | "lines">;

/** Orders kept in memory, newest last; enough for a demo service and its tests. */
export class OrderStore {
  private readonly orders = new Map<string, Order>();

  create(input: NewOrder, now: Date = new Date()): Order {
    const totalCents = input.lines.reduce((sum, line) => sum + line.quantity * line.unitPriceCents, 0);
    const order: Order = { id: randomUUID(), ...input, totalCents, createdAt: now.toISOString() };
    this.orders.set(order.id, order);
    return order;
  }

  get(id: string): Order | undefined {
    return this.orders.get(id);
  }

  list(customerId?: string): Order[] {
    const all = [...this.orders.values()];
    return customerId === undefined ? all : all.filter((order) => order.customerId === customerId);
  }

  get size(): number {
    return this.orders.size;
  }
}
