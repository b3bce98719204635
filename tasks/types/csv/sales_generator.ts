/**
 * A deterministic sales file: the same filename always gives the same rows
 * (a PRNG seeded by the name), produced as a stream so a million rows never sit
 * in memory at once.
 */

export const SALES_COLUMNS = [
  "date",
  "region",
  "product",
  "quantity",
  "unit_price",
  "amount",
] as const;
/** Brazil's five regions, as the seed tutorials name them. */
export const REGIONS = ["norte", "nordeste", "centro-oeste", "sudeste", "sul"] as const;
/** English names accepted for them. */
const REGION_ALIASES: Record<string, (typeof REGIONS)[number]> = {
  north: "norte",
  northeast: "nordeste",
  midwest: "centro-oeste",
  "center-west": "centro-oeste",
  southeast: "sudeste",
  south: "sul",
};

/** A region as stored: lower case, English names mapped to the Portuguese ones. */
export function canonicalRegion(region: string): string {
  const lower = region.trim().toLowerCase();
  return REGION_ALIASES[lower] ?? lower;
}

/** Generated sales cover these two years (the seeds ask for months of 2025). */
const FIRST_DAY = Date.UTC(2025, 0, 1);
const DAYS = 730;
const PRODUCTS: [string, number][] = [
  ["notebook", 4200],
  ["monitor", 1350],
  ["keyboard", 220],
  ["mouse", 95],
  ["headset", 380],
  ["webcam", 310],
  ["dock", 890],
  ["chair", 1650],
];

/** mulberry32: a small, fast, well-distributed 32-bit PRNG. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function seedOf(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Yields the CSV text of `numRows` sales rows (with a header) in chunks of about `rowsPerChunk` rows. */
export async function* generateSalesCsv(
  filename: string,
  numRows: number,
  rowsPerChunk = 2_000,
): AsyncGenerator<string> {
  const random = mulberry32(seedOf(filename));
  let chunk = `${SALES_COLUMNS.join(",")}\n`;
  for (let i = 0; i < numRows; i++) {
    const day = FIRST_DAY + Math.floor(random() * DAYS) * 86_400_000;
    const date = new Date(day).toISOString().slice(0, 10);
    const region = REGIONS[Math.floor(random() * REGIONS.length)];
    const [product, basePrice] = PRODUCTS[Math.floor(random() * PRODUCTS.length)];
    const quantity = 1 + Math.floor(random() * 10);
    const unitPrice = Math.round(basePrice * (0.8 + random() * 0.4) * 100) / 100;
    const amount = Math.round(quantity * unitPrice * 100) / 100;
    chunk += `${date},${region},${product},${quantity},${unitPrice},${amount}\n`;
    if ((i + 1) % rowsPerChunk === 0) {
      yield chunk;
      chunk = "";
    }
  }
  if (chunk) yield chunk;
}
