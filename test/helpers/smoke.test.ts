import test from 'ava'

test('the test harness runs compiled TypeScript', (t) => {
  t.pass()
})
