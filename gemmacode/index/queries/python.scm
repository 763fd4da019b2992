; Python tags. Captures: @definition.<kind> with @name; @reference.<kind> on the name itself.
; A function nested in a class becomes a method in tags.py. Decorated definitions come
; first so their range includes the decorators.

(decorated_definition
  definition: (class_definition
    name: (identifier) @name)) @definition.class

(decorated_definition
  definition: (function_definition
    name: (identifier) @name)) @definition.function

(class_definition
  name: (identifier) @name) @definition.class

(function_definition
  name: (identifier) @name) @definition.function

(module
  (expression_statement
    (assignment
      left: (identifier) @name) @definition.constant))

(call
  function: [
    (identifier) @reference.call
    (attribute
      attribute: (identifier) @reference.call)
  ])

(class_definition
  superclasses: (argument_list
    [
      (identifier) @reference.class
      (attribute
        attribute: (identifier) @reference.class)
    ]))

(decorator
  [
    (identifier) @reference.call
    (attribute
      attribute: (identifier) @reference.call)
  ])

(type
  (identifier) @reference.type)
