package testenv

// ChildrenOf is childrenOf, for the reaper's test.
var ChildrenOf = childrenOf
