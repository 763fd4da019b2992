; Java tags.

(class_declaration
  name: (identifier) @name) @definition.class

(record_declaration
  name: (identifier) @name) @definition.class

(interface_declaration
  name: (identifier) @name) @definition.interface

(annotation_type_declaration
  name: (identifier) @name) @definition.interface

(enum_declaration
  name: (identifier) @name) @definition.enum

(method_declaration
  name: (identifier) @name) @definition.method

(constructor_declaration
  name: (identifier) @name) @definition.constructor

(method_invocation
  name: (identifier) @reference.call)

(type_list
  (type_identifier) @reference.implementation)

(object_creation_expression
  type: (type_identifier) @reference.class)

(superclass
  (type_identifier) @reference.class)
