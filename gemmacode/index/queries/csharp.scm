; C# tags.

(class_declaration
  name: (identifier) @name) @definition.class

(struct_declaration
  name: (identifier) @name) @definition.struct

(record_declaration
  name: (identifier) @name) @definition.class

(interface_declaration
  name: (identifier) @name) @definition.interface

(enum_declaration
  name: (identifier) @name) @definition.enum

(method_declaration
  name: (identifier) @name) @definition.method

(constructor_declaration
  name: (identifier) @name) @definition.constructor

(property_declaration
  name: (identifier) @name) @definition.property

(namespace_declaration
  name: (_) @name) @definition.module

(file_scoped_namespace_declaration
  name: (_) @name) @definition.module

(base_list
  (_) @reference.class)

(object_creation_expression
  type: (identifier) @reference.class)

(invocation_expression
  function: [
    (identifier) @reference.call
    (member_access_expression name: (identifier) @reference.call)
  ])

(variable_declaration
  type: (identifier) @reference.class)
