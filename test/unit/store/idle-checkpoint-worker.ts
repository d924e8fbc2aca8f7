// A checkpoint worker that starts and never checkpoints (a starved or stuck thread), for
// sqlite-checkpoint.test.ts: the store must bound the log on its own.
setInterval(() => {}, 1000)
