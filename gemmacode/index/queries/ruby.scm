; Ruby tags. Bare identifiers are not taken as calls: without scope analysis they are
; indistinguishable from local variables.

(method
  name: (_) @name) @definition.method

(singleton_method
  name: (_) @name) @definition.method

(alias
  name: (_) @name) @definition.method

(class
  name: [
    (constant) @name
    (scope_resolution name: (_) @name)
  ]) @definition.class

(singleton_class
  value: [
    (constant) @name
    (scope_resolution name: (_) @name)
  ]) @definition.class

(module
  name: [
    (constant) @name
    (scope_resolution name: (_) @name)
  ]) @definition.module

(program
  (assignment
    left: (constant) @name) @definition.constant)

(call
  method: (identifier) @reference.call)

(superclass
  [
    (constant) @reference.class
    (scope_resolution name: (constant) @reference.class)
  ])
