; Bash tags (the grammar ships none): functions, top-level variables, commands called.

(function_definition
  name: (word) @name) @definition.function

(program
  (variable_assignment
    name: (variable_name) @name) @definition.variable)

(program
  (declaration_command
    (variable_assignment
      name: (variable_name) @name)) @definition.variable)

(command
  name: (command_name (word) @reference.call))
