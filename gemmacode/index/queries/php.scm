; PHP tags.

(namespace_definition
  name: (namespace_name) @name) @definition.module

(interface_declaration
  name: (name) @name) @definition.interface

(trait_declaration
  name: (name) @name) @definition.interface

(class_declaration
  name: (name) @name) @definition.class

(enum_declaration
  name: (name) @name) @definition.enum

(function_definition
  name: (name) @name) @definition.function

(method_declaration
  name: (name) @name) @definition.method

(property_declaration
  (property_element
    (variable_name (name) @name))) @definition.field

(class_interface_clause
  [(name) (qualified_name)] @reference.implementation)

(base_clause
  [(name) (qualified_name)] @reference.class)

(object_creation_expression
  [
    (qualified_name (name) @reference.class)
    (name) @reference.class
  ])

(function_call_expression
  function: [
    (qualified_name (name) @reference.call)
    (name) @reference.call
  ])

(scoped_call_expression
  name: (name) @reference.call)

(member_call_expression
  name: (name) @reference.call)
