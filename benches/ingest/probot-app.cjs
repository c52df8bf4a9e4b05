// A Probot app that only acknowledges: Probot verifies the signature and answers;
// no handler does any work and nothing is stored.
module.exports = () => {};
