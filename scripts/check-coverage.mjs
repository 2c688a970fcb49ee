// The floor per folder: c8 checks totals only, so read its summary and check src/streams and src/tools.
import { readFileSync } from 'node:fs'

const floors = { 'src/streams/': 85, 'src/tools/': 85 }
const summary = JSON.parse(readFileSync('coverage/coverage-summary.json', 'utf8'))
let failed = false
for (const [folder, floor] of Object.entries(floors)) {
  let covered = 0
  let total = 0
  for (const [file, figures] of Object.entries(summary)) {
    if (!file.includes(`/${folder}`)) continue
    covered += figures.lines.covered
    total += figures.lines.total
  }
  const pct = total === 0 ? 0 : (100 * covered) / total
  console.log(`coverage ${folder}: ${pct.toFixed(1)}% of ${total} lines (floor ${floor}%)`)
  if (pct < floor) failed = true
}
process.exit(failed ? 1 : 0)
